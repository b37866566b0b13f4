package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"facteur/internal/bounce"
	"facteur/internal/config"
	smtpout "facteur/internal/deliver/smtp"
	"facteur/internal/dns"
	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// smtpTransport is the outbound SMTP client, configured.
func (s *server) smtpTransport() (*smtpout.Client, error) {
	cfg := s.cfg
	relay, err := config.ParseRelayhost(cfg.Get("relayhost"))
	if err != nil {
		return nil, fmt.Errorf("relayhost: %w", err)
	}
	level := cfg.Get("smtp_tls_security_level")
	switch level {
	case smtpout.TLSNone, smtpout.TLSMay, smtpout.TLSEncrypt, "":
	default:
		return nil, fmt.Errorf("smtp_tls_security_level: %q is not none, may or encrypt", level)
	}
	// Large body parts wait here while they are converted to 7 bit:
	// nothing is written outside data_directory.
	tmp := filepath.Join(queueDir(cfg), "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	opt := smtpout.Options{
		Hostname:               cfg.Get("myhostname"),
		Resolver:               dns.NewSystem(cfg.List("dns_nameservers")),
		Relayhost:              relay,
		TLSLevel:               level,
		LocalAddrs:             s.listenerAddrs,
		Port:                   int(cfg.Int("smtp_port")),
		DestinationConcurrency: int(cfg.Int("default_destination_concurrency_limit")),
		Cooldown:               cfg.Duration("minimal_backoff_time"),
		ConnectTimeout:         cfg.Duration("smtp_connect_timeout"),
		HeloTimeout:            cfg.Duration("smtp_helo_timeout"),
		MailTimeout:            cfg.Duration("smtp_mail_timeout"),
		RcptTimeout:            cfg.Duration("smtp_rcpt_timeout"),
		DataInitTimeout:        cfg.Duration("smtp_data_init_timeout"),
		DataXferTimeout:        cfg.Duration("smtp_data_xfer_timeout"),
		DataDoneTimeout:        cfg.Duration("smtp_data_done_timeout"),
		QuitTimeout:            cfg.Duration("smtp_quit_timeout"),
		StartTLSTimeout:        cfg.Duration("smtp_starttls_timeout"),
		ConnCacheTime:          cfg.Duration("smtp_connection_cache_time_limit"),
		TempDir:                tmp,
		Log:                    s.log.Service("smtp"),
		Debug:                  s.debug,
	}
	if maps := specs(cfg, "transport_maps"); len(maps) > 0 {
		if opt.Transports, err = config.OpenTables(maps); err != nil {
			return nil, fmt.Errorf("transport_maps: %w", err)
		}
	}
	return smtpout.New(opt), nil
}

// listenerAddrs are the addresses this server receives mail on: an MX
// that resolves to one of them is this server (mail would loop). A
// listener on the unspecified address stands for every interface's.
func (s *server) listenerAddrs() []netip.Addr {
	var out []netip.Addr
	for _, ln := range s.lns {
		ap, err := netip.ParseAddrPort(ln.Addr().String())
		if err != nil {
			continue
		}
		if a := ap.Addr().Unmap(); !a.IsUnspecified() {
			out = append(out, a)
			continue
		}
		for _, p := range interfaceAddrs() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// notifier is the queue's Notifier: notices routed by policy, queued
// straight into the queue.
func (s *server) notifier() queue.Notifier {
	cfg := s.cfg
	return bounce.New(bounceQueue{s}, s.pol, bounce.Options{
		Hostname:    cfg.Get("myhostname"),
		Origin:      cfg.Get("myorigin"),
		Postmaster:  cfg.Get("2bounce_notice_recipient"),
		SizeLimit:   cfg.Int("bounce_size_limit"),
		MaxLifetime: cfg.Duration("maximal_queue_lifetime"),
		Log:         s.log.Service("bounce"),
	})
}

// bounceQueue lets package bounce write into the queue through the
// interface it declares. It holds the server, whose queue opens after the
// notifier is made.
type bounceQueue struct{ s *server }

func (b bounceQueue) Create(ctx context.Context, env *envelope.Envelope) (bounce.File, error) {
	f, err := b.s.q.Create(ctx, env)
	if err != nil {
		return nil, err
	}
	return f, nil
}
