// Package smtpd runs SMTP server sessions (RFC 5321 §4.1, §4.2, §4.3) with
// the extensions facteur announces: PIPELINING (RFC 2920), SIZE (RFC 1870),
// 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034, codes of RFC 3463),
// SMTPUTF8 (RFC 6531), DSN (RFC 3461), CHUNKING and BINARYMIME (RFC 3030),
// STARTTLS (RFC 3207) and AUTH (RFC 4954, with PLAIN and LOGIN from
// internal/sasl). The same server runs message submission (RFC 6409, port
// 587) and submission over implicit TLS (RFC 8314, port 465), where AUTH is
// required before MAIL.
//
// A session decodes commands, checks state and limits, and asks its
// Policy for every decision about clients and recipients, its
// Authenticator for credentials and its Senders for the addresses an
// authenticated client may use; accepted messages go to its Sink (cleanup
// and the queue, wired by cmd/facteur).
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"facteur/internal/address"
	"facteur/internal/envelope"
	"facteur/internal/limiter"
	"facteur/internal/maillog"
	"facteur/internal/smtp"
)

// Policy decides who may do what. A nil reply means yes.
type Policy interface {
	ClientTrusted(addr netip.Addr) bool
	Recipient(ctx context.Context, client *envelope.Client, rcpt address.Address) ([]*envelope.Recipient, *smtp.Reply)
	Verify(ctx context.Context, client *envelope.Client, arg string) *smtp.Reply
	Expand(ctx context.Context, client *envelope.Client, arg string) *smtp.Reply
}

// Authenticator checks credentials. An unknown user must cost the same
// time as a wrong password, and both give false with a nil error.
type Authenticator interface {
	Authenticate(ctx context.Context, name, password string) (bool, error)
}

// Senders decides which sender addresses an authenticated client may use
// (Postfix's reject_sender_login_mismatch). A nil reply means yes.
type Senders interface {
	SenderOwned(ctx context.Context, client *envelope.Client, sender string) *smtp.Reply
}

// Sink takes accepted messages: cleanup and the queue.
type Sink interface {
	SpaceOK() bool // false: 452 4.3.1 at MAIL
	// Begin starts a message whose envelope (client, sender, recipients,
	// DSN fields) is complete.
	Begin(ctx context.Context, env *envelope.Envelope) (Message, error)
}

// Message is one message being received.
type Message interface {
	ID() string // queue ID, known before the data, for the log
	Write(p []byte) (int, error)
	// Commit makes the message durable. An error that is a *smtp.Reply is
	// sent as is; any other becomes 451 4.3.0. After a failed Commit the
	// session calls Abort.
	Commit(ctx context.Context) error
	Abort()
}

// Config holds the session parameters, named after Postfix's.
type Config struct {
	Hostname string // myhostname; "localhost" when empty
	// Banner is the greeting text after "220 " (smtpd_banner, expanded);
	// "<Hostname> ESMTP facteur" when empty.
	Banner string
	// MaxMessageSize is message_size_limit in octets; 0 means no limit.
	MaxMessageSize int64
	// MaxRecipients is smtpd_recipient_limit; 0 means Postfix's 1000.
	MaxRecipients int
	// Timeout bounds every read and write (smtpd_timeout); 0 means 300s.
	Timeout           time.Duration
	DisableVRFY       bool // disable_vrfy_command
	ForbidBareNewline bool // smtpd_forbid_bare_newline
	// ConnLimitPerClient is smtpd_client_connection_count_limit: the
	// concurrent sessions one untrusted address may hold; 0 means no limit.
	ConnLimitPerClient int
	// HardErrorLimit is smtpd_hard_error_limit; 0 means Postfix's 20.
	HardErrorLimit int
	// ShutdownTimeout is how long cmd/facteur lets Shutdown wait; smtpd
	// itself follows the context given to Shutdown.
	ShutdownTimeout time.Duration
	// PeernameLookup is smtpd_peername_lookup: name each client by its
	// forward-confirmed reverse name, asking Resolver. Off, or with a nil
	// Resolver, every client is "unknown".
	PeernameLookup bool
	Resolver       Resolver
	// PeernameTimeout bounds those lookups for one client; 0 means 10s.
	PeernameTimeout time.Duration
	Log             *maillog.Logger // nil discards
	Debug           *slog.Logger    // nil discards

	// TLS serves STARTTLS and implicit TLS; nil offers neither.
	TLS *tls.Config
	// TLSLevel is smtpd_tls_security_level: TLSNone, TLSMay (the default
	// with TLS set) or TLSEncrypt, for the SMTP and submission ports.
	TLSLevel string
	// TLSAuthOnly is smtpd_tls_auth_only: AUTH only after STARTTLS.
	TLSAuthOnly bool
	// AuthOnSMTP is smtpd_sasl_auth_enable: AUTH on the SMTP port too;
	// submission and submissions always offer it.
	AuthOnSMTP bool
	// Auth checks credentials; nil offers AUTH nowhere.
	Auth Authenticator
	// AuthFailureLimit failed AUTH attempts from one address within
	// AuthFailureWindow get 421 4.7.0; 0 means 10 in 300s.
	AuthFailureLimit  int
	AuthFailureWindow time.Duration
	// AuthFailureDelay is paused before each 535, times the address's
	// failures in the window; 0 means no pause.
	AuthFailureDelay time.Duration
	// AuthFailures, when set, counts the failures instead of a limiter of
	// AuthFailureLimit in AuthFailureWindow, so that logins by POP3 and
	// IMAP count with SMTP AUTH's.
	AuthFailures *limiter.Limiter
	// Senders checks MAIL FROM of authenticated clients; nil allows any.
	Senders Senders
}

// The values of Config.TLSLevel.
const (
	TLSNone    = "none"
	TLSMay     = "may"
	TLSEncrypt = "encrypt"
)

// Port is the kind of listener a session came from.
type Port int

const (
	// PortSMTP is port 25: STARTTLS by TLSLevel, AUTH with AuthOnSMTP.
	PortSMTP Port = iota
	// PortSubmission is port 587 (RFC 6409): STARTTLS by TLSLevel, AUTH
	// required before MAIL.
	PortSubmission
	// PortSubmissions is port 465 (RFC 8314 §3.3): TLS from the first
	// octet, AUTH required before MAIL.
	PortSubmissions
	// portLocal is ServeConn's session on standard input and output:
	// neither TLS nor AUTH.
	portLocal
)

// Postfix's defaults for the parameters whose zero value is no use.
const (
	defaultMaxRecipients  = 1000
	defaultTimeout        = 300 * time.Second
	defaultHardErrorLimit = 20

	defaultAuthFailureLimit  = 10
	defaultAuthFailureWindow = 300 * time.Second
)

func (c *Config) setDefaults() {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.Banner == "" {
		c.Banner = c.Hostname + " ESMTP facteur"
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = defaultMaxRecipients
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.PeernameTimeout <= 0 {
		c.PeernameTimeout = defaultPeernameTimeout
	}
	if c.HardErrorLimit <= 0 {
		c.HardErrorLimit = defaultHardErrorLimit
	}
	if c.AuthFailureLimit <= 0 {
		c.AuthFailureLimit = defaultAuthFailureLimit
	}
	if c.AuthFailureWindow <= 0 {
		c.AuthFailureWindow = defaultAuthFailureWindow
	}
	if c.AuthFailures == nil {
		c.AuthFailures = limiter.New(c.AuthFailureLimit, c.AuthFailureWindow, time.Now)
	}
	if c.TLSLevel == "" {
		c.TLSLevel = TLSMay
	}
	if c.Log == nil {
		c.Log = maillog.New(nil)
	}
	c.Log = c.Log.Service("smtpd")
	if c.Debug == nil {
		c.Debug = slog.New(slog.DiscardHandler)
	}
}

// Server accepts connections and runs a session on each.
type Server struct {
	cfg    Config
	policy Policy
	sink   Sink

	closing atomic.Bool
	stop    chan struct{} // closed when Shutdown begins
	panics  atomic.Int64  // recovered session panics, for tests

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perClient map[netip.Addr]int
	wg        sync.WaitGroup

	failures *limiter.Limiter
	// sleep pauses before a failed AUTH's reply; tests replace it.
	sleep func(ctx context.Context, d time.Duration)
}

// NewServer returns a server with cfg, asking p and handing mail to s.
func NewServer(cfg Config, p Policy, s Sink) *Server {
	cfg.setDefaults()
	return &Server{
		cfg: cfg, policy: p, sink: s,
		stop:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		perClient: make(map[netip.Addr]int),
		failures:  cfg.AuthFailures,
		sleep:     limiter.Sleep,
	}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("smtpd: server closed")

// Serve accepts connections on ln until ln is closed or Shutdown is
// called, running one session goroutine per connection. A failed accept
// (too many open files, a connection aborted before it was accepted...)
// is logged and retried after a pause, so that the server never stops
// taking mail while its listener stays bound.
func (s *Server) Serve(ln net.Listener) error {
	return s.ServePort(ln, PortSMTP)
}

// ServePort is Serve for a listener of kind p. Submissions needs
// Config.TLS, and both submission ports need Config.Auth.
func (s *Server) ServePort(ln net.Listener, p Port) error {
	if (p == PortSubmissions && s.cfg.TLS == nil) || (p != PortSMTP && s.cfg.Auth == nil) {
		ln.Close()
		return errors.New("smtpd: a submission listener needs TLS and an authenticator")
	}
	if !s.track(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			s.cfg.Log.Warn("accept: %v", err)
			s.cfg.Debug.Warn("smtpd: accept failed, retrying", "addr", ln.Addr(), "err", err, "delay", delay)
			if !s.pause(delay) {
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveLimited(conn, p)
		}()
	}
}

// The pause after a failed accept doubles from minAcceptDelay up to
// maxAcceptDelay, as net/http's server does.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// pause waits d, or less when Shutdown begins; false means it began.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

// track registers a listener for Shutdown. Serve counts in s.wg while it
// runs, so that its sessions' wg.Add never races with Shutdown's Wait.
func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
	s.wg.Done()
}

// enter counts a ServeConn session in s.wg unless Shutdown has begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// ServeConn runs one session on conn and returns when it ends; it closes
// conn. cmd/facteur uses it for "sendmail -bs" on standard input and
// output. No per-client connection limit applies.
func (s *Server) ServeConn(ctx context.Context, conn net.Conn) {
	if !s.enter() {
		refuse(conn, s.cfg.Timeout, smtp.NewReply(421, "4.3.2", s.cfg.Hostname+" Service shutting down"))
		return
	}
	defer s.wg.Done()
	s.run(ctx, conn, portLocal)
}

// serveLimited enforces ConnLimitPerClient, then runs the session.
func (s *Server) serveLimited(conn net.Conn, p Port) {
	addr := remoteAddr(conn)
	if s.cfg.ConnLimitPerClient > 0 && addr.IsValid() && !s.policy.ClientTrusted(addr) {
		if !s.acquire(addr) {
			s.cfg.Log.Warn("too many connections from %s", addr)
			refuse(conn, s.cfg.Timeout, smtp.NewReply(421, "4.7.0", s.cfg.Hostname+" Error: too many connections from "+addr.String()))
			return
		}
		defer s.release(addr)
	}
	s.run(context.Background(), conn, p)
}

func (s *Server) acquire(addr netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient[addr] >= s.cfg.ConnLimitPerClient {
		return false
	}
	s.perClient[addr]++
	return true
}

func (s *Server) release(addr netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient[addr]--; s.perClient[addr] <= 0 {
		delete(s.perClient, addr)
	}
}

// remoteAddr is the peer's IP address, zero when conn is not IP.
func remoteAddr(conn net.Conn) netip.Addr {
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
