package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"facteur/internal/cleanup"
	"facteur/internal/config"
	"facteur/internal/deliver/local"
	smtpout "facteur/internal/deliver/smtp"
	"facteur/internal/dns"
	"facteur/internal/envelope"
	"facteur/internal/limiter"
	"facteur/internal/maillog"
	"facteur/internal/policy"
	"facteur/internal/queue"
	"facteur/internal/smtpd"
	"facteur/internal/store"
	"facteur/internal/tlsconf"
)

func runServe(env *cmdEnv, args []string) error {
	flags, pos, err := parseArgs(args, flagSpec{"v": false, "cpuprofile": true})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("serve takes no arguments")
	}
	cfg, err := loadConfig(env, flags)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if flags["v"] != "" {
		level = slog.LevelDebug
	}
	handler := maillog.NewHandler(env.stderr, cfg.Get("myhostname"), level)
	defer handler.Flush()
	logger := slog.New(handler)
	if path := flags["cpuprofile"]; path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, env, cfg, logger)
}

// server is the running system: what serve starts and stops.
type server struct {
	cfg   *config.Config
	log   *maillog.Logger
	debug *slog.Logger
	st    *store.Store
	q     *queue.Queue
	pol   *policy.Policy
	out   *smtpout.Client
	sink  sinkAdapter // cleanup in front of the queue, for smtpd and the pickup
	smtpd *smtpd.Server
	certs *tlsconf.Certs
	// logins counts failed logins per client address for SMTP AUTH, POP3
	// and IMAP together: one throttle, whichever door is tried.
	logins *limiter.Limiter
	access []string // "IMAP on 127.0.0.1:143", ..., for the start-up line
	lns    []net.Listener
	ports  map[net.Listener]listenParam // what each of lns serves
	lock   *os.File
}

func serve(ctx context.Context, env *cmdEnv, cfg *config.Config, logger *slog.Logger) error {
	s := &server{cfg: cfg, log: maillog.New(logger), debug: logger,
		logins: limiter.New(int(cfg.Int("smtpd_auth_failure_limit")), cfg.Duration("smtpd_auth_failure_window"), time.Now)}
	if err := s.open(ctx); err != nil {
		s.close()
		return err
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	ctlSrv, err := serveControl(runCtx, controlPath(cfg), s.q, s.debug)
	if err != nil {
		s.close()
		return fmt.Errorf("control socket: %w", err)
	}
	var wg sync.WaitGroup
	if err := s.startPOP3(runCtx, &wg); err != nil {
		ctlSrv.Close()
		s.close()
		return err
	}
	if err := s.startIMAP(runCtx, &wg); err != nil {
		ctlSrv.Close()
		s.close()
		return err
	}
	if err := s.startPickup(runCtx, &wg, ctlSrv); err != nil {
		ctlSrv.Close()
		s.close()
		return err
	}
	s.announce(env)

	wg.Go(func() {
		if err := ctlSrv.Serve(runCtx); err != nil {
			s.debug.Error("control socket stopped", "err", err)
		}
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		transports := map[string]queue.Transport{
			envelope.TransportLocal: s.localTransport(),
			envelope.TransportSMTP:  s.out,
		}
		if err := s.q.Run(runCtx, transports); err != nil && !errors.Is(err, context.Canceled) {
			s.debug.Error("queue manager stopped", "err", err)
		}
	}()
	wg.Go(func() { s.reloadOnHUP(runCtx) })
	s.serveSMTP(&wg)

	<-ctx.Done()
	s.log.Service("master").Event("", "terminating on signal")
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.Duration("smtpd_shutdown_timeout"))
	s.smtpd.Shutdown(shutCtx)
	cancel()
	cancelRun()
	wg.Wait()
	return s.close()
}

func (s *server) open(ctx context.Context) error {
	cfg := s.cfg
	var err error
	if err = os.MkdirAll(cfg.Get("data_directory"), 0o700); err != nil {
		return fmt.Errorf("creating data_directory: %w", err)
	}
	if s.lock, err = lockDataDir(cfg.Get("data_directory")); err != nil {
		return err
	}
	if s.st, err = openStore(cfg, store.Options{SweepOrphans: true, Debug: s.debug}); err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	pol, aliases, err := s.policy()
	if err != nil {
		return err
	}
	s.pol = pol
	if s.q, err = queue.Open(queueDir(cfg), s.queueOptions()); err != nil {
		return fmt.Errorf("opening queue: %w", err)
	}
	if err := s.ensurePostmaster(ctx, aliases); err != nil {
		return err
	}
	if err := s.loadCerts(); err != nil {
		return err
	}
	cl := cleanup.New(queueAdapter{s.q}, cleanup.Options{
		Hostname: cfg.Get("myhostname"),
		HopLimit: int(cfg.Int("hopcount_limit")),

		HeaderLimit: int(cfg.Int("header_size_limit")),
		Log:         s.log.Service("cleanup"),
		HideClient:  cfg.Bool("smtpd_received_hide_client"),
		Senders:     pol,
	})
	s.sink = sinkAdapter{q: s.q, c: cl}
	s.smtpd = smtpd.NewServer(s.smtpdConfig(), pol, s.sink)
	if err := s.listen(); err != nil {
		return err
	}
	s.out, err = s.smtpTransport()
	return err
}

func (s *server) queueOptions() queue.Options {
	cfg := s.cfg
	return queue.Options{
		MinBackoff:     cfg.Duration("minimal_backoff_time"),
		MaxBackoff:     cfg.Duration("maximal_backoff_time"),
		RunDelay:       cfg.Duration("queue_run_delay"),
		MaxLifetime:    cfg.Duration("maximal_queue_lifetime"),
		BounceLifetime: cfg.Duration("bounce_queue_lifetime"),
		DelayWarning:   cfg.Duration("delay_warning_time"),
		Concurrency:    int(cfg.Int("default_process_limit")),
		Notifier:       s.notifier(),
		MinFree:        minFree(cfg.Int("message_size_limit")),
		DrainTimeout:   cfg.Duration("smtpd_shutdown_timeout"),
		Log:            s.log.Service("qmgr"),
		Debug:          s.debug,
	}
}

func (s *server) smtpdConfig() smtpd.Config {
	cfg := s.cfg
	c := smtpd.Config{
		Hostname:           cfg.Get("myhostname"),
		Banner:             cfg.Get("smtpd_banner"),
		MaxMessageSize:     cfg.Int("message_size_limit"),
		MaxRecipients:      int(cfg.Int("smtpd_recipient_limit")),
		Timeout:            cfg.Duration("smtpd_timeout"),
		DisableVRFY:        cfg.Bool("disable_vrfy_command"),
		ForbidBareNewline:  cfg.Bool("smtpd_forbid_bare_newline"),
		ConnLimitPerClient: int(cfg.Int("smtpd_client_connection_count_limit")),
		HardErrorLimit:     int(cfg.Int("smtpd_hard_error_limit")),
		ShutdownTimeout:    cfg.Duration("smtpd_shutdown_timeout"),
		PeernameLookup:     cfg.Bool("smtpd_peername_lookup"),
		Resolver:           dns.NewSystem(cfg.List("dns_nameservers")),
		Log:                s.log.Service("smtpd"),
		Debug:              s.debug,
	}
	s.smtpdSecurity(&c)
	return c
}

// policy builds the recipient policy from the configuration.
func (s *server) policy() (*policy.Policy, *config.Aliases, error) {
	cfg := s.cfg
	ifaces := interfaceAddrs()
	nets, err := config.MyNetworks(cfg, ifaces)
	if err != nil {
		return nil, nil, fmt.Errorf("mynetworks: %w", err)
	}
	aliases, err := config.OpenAliasMaps(specs(cfg, "alias_maps"))
	if err != nil {
		return nil, nil, fmt.Errorf("alias_maps: %w", err)
	}
	pc := policy.Config{
		MyDestination:         domainList(cfg, "mydestination"),
		RelayDomains:          domainList(cfg, "relay_domains"),
		VirtualAliasDomains:   domainList(cfg, "virtual_alias_domains"),
		VirtualMailboxDomains: domainList(cfg, "virtual_mailbox_domains"),
		MyNetworks:            nets,
		RecipientDelimiter:    cfg.Get("recipient_delimiter"),
		SoftBounce:            cfg.Bool("soft_bounce"),
		MyOrigin:              cfg.Get("myorigin"),
		ExpansionLimit:        int(cfg.Int("virtual_alias_expansion_limit")),
		RecursionLimit:        int(cfg.Int("virtual_alias_recursion_limit")),
		Users:                 s.st,
		Aliases:               aliases,
	}
	for _, p := range ifaces {
		pc.LocalAddrs = append(pc.LocalAddrs, p.Addr())
	}
	if maps := specs(cfg, "virtual_alias_maps"); len(maps) > 0 {
		t, err := config.OpenTables(maps)
		if err != nil {
			return nil, nil, fmt.Errorf("virtual_alias_maps: %w", err)
		}
		pc.VirtualAliases = t
	}
	if maps := specs(cfg, "smtpd_sender_login_maps"); len(maps) > 0 {
		t, err := config.OpenTables(maps)
		if err != nil {
			return nil, nil, fmt.Errorf("smtpd_sender_login_maps: %w", err)
		}
		pc.SenderLogins = t
	}
	return policy.New(pc), aliases, nil
}

// ensurePostmaster makes the postmaster account when no alias names
// postmaster: RFC 5321 §4.5.1 requires the mailbox in every local domain.
func (s *server) ensurePostmaster(ctx context.Context, aliases *config.Aliases) error {
	if _, ok := aliases.Lookup("postmaster"); ok {
		return nil
	}
	ok, err := s.st.UserExists(ctx, "postmaster")
	if err != nil || ok {
		return err
	}
	if err := s.st.AddUser(ctx, "postmaster", ""); err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("creating the postmaster account: %w", err)
	}
	s.log.Service("master").Event("", "created account \"postmaster\" (no postmaster alias): read it with facteur mailbox list postmaster")
	return nil
}

func (s *server) localTransport() queue.Transport {
	opt := local.Options{
		CommandTimeout: s.cfg.Duration("command_time_limit"),
		Log:            s.log.Service("local"),
		Debug:          s.debug,
		Hostname:       s.cfg.Get("myhostname"),

		RecipientDelimiter: s.cfg.Get("recipient_delimiter"),
	}
	if os.Geteuid() == 0 {
		// Pipes run as the owner of data_directory, never as root.
		if fi, err := os.Stat(s.cfg.Get("data_directory")); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
				opt.RunAs = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
			}
		}
	}
	return local.New(s.st, opt)
}

func (s *server) announce(env *cmdEnv) {
	where := strings.Join(append([]string{s.where()}, s.access...), "; ")
	conf := s.cfg.Path()
	if conf == "" {
		conf = "the embedded default configuration"
	}
	fmt.Fprintf(env.stderr, "facteur: %s; data in %s; local domains: %s; using %s\n",
		where, s.cfg.Get("data_directory"), strings.Join(s.cfg.List("mydestination"), ", "), conf)
	fmt.Fprintf(env.stderr, "facteur: add an account with: facteur user add NAME%s\n", configFlag(s.cfg))
}

func configFlag(cfg *config.Config) string {
	if cfg.Path() == "" {
		return ""
	}
	return " -config " + cfg.Path()
}

func (s *server) close() error {
	var errs []error
	for _, ln := range s.lns {
		ln.Close()
	}
	if s.out != nil {
		errs = append(errs, s.out.Close())
	}
	if s.q != nil {
		errs = append(errs, s.q.Close())
	}
	if s.st != nil {
		errs = append(errs, s.st.Close())
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return errors.Join(errs...)
}

// lockDataDir takes the lock that makes a server the only one running on
// a data_directory: two queue managers on one queue would deliver twice.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "master.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another facteur is running on %s (%s is locked)", dir, path)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// minFree is the free disk below which MAIL gets 452 4.3.1: 1.5 ×
// message_size_limit, as Postfix's queue_minfree check, and with no limit
// (0) 1.5 × Postfix's default limit, so that the check never switches off.
func minFree(sizeLimit int64) int64 {
	if sizeLimit <= 0 {
		sizeLimit = 10240000
	}
	return sizeLimit * 3 / 2
}
