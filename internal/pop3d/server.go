// Package pop3d is the POP3 server: each account reads and deletes the
// mail of its INBOX. It implements RFC 1939 (POP3: USER, PASS, STAT, LIST,
// RETR, DELE, NOOP, RSET, QUIT, TOP, UIDL, and the AUTHORIZATION,
// TRANSACTION and UPDATE states), RFC 2449 (CAPA and the response codes
// [IN-USE], [AUTH] and [SYS/TEMP]), RFC 2595 (STLS) and RFC 5034 (AUTH,
// with SASL-IR's initial response).
//
// The mail store is behind the Maildrops interface, which cmd/facteur
// adapts; deletions reach it only at QUIT, and a dropped connection
// deletes nothing.
package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"facteur/internal/limiter"
	"facteur/internal/maillog"
)

// Message is one message of a maildrop.
type Message struct {
	UID  uint32
	Size int64 // octets as stored, with CRLF line ends, before dot-stuffing
	// Ref is the store's own handle on the message, as List gave it,
	// handed back to Open: the store may need no lookup to open it.
	Ref any
}

// Maildrops is the mail store as POP3 sees it: the INBOX of each account.
type Maildrops interface {
	// Authenticate checks a password and returns the account's canonical
	// name, the one whose maildrop is locked.
	Authenticate(ctx context.Context, user, password string) (account string, ok bool, err error)
	// List returns the INBOX's UIDVALIDITY and its messages in UID order.
	List(ctx context.Context, account string) (uidValidity uint32, msgs []Message, err error)
	// Open returns the bytes of a message List gave, CRLF line ends
	// included.
	Open(ctx context.Context, account string, m Message) (io.ReadCloser, error)
	// Delete removes messages from the INBOX; those already gone are
	// skipped.
	Delete(ctx context.Context, account string, uids []uint32) error
}

// Config is the server's configuration.
type Config struct {
	// Hostname is named in the greeting.
	Hostname string
	// TLS serves STLS and implicit TLS; nil offers neither.
	TLS *tls.Config
	// PlaintextLoopbackOnly is disable_plaintext_auth: USER, PASS and AUTH
	// only under TLS or from a loopback address (RFC 2595 §2.1).
	PlaintextLoopbackOnly bool
	// Timeout is the idle timeout; 0 means RFC 1939 §3's 10 minutes.
	Timeout time.Duration
	// Failures counts failed logins per client address; nil makes one of
	// 10 failures in 300s.
	Failures *limiter.Limiter
	// FailureDelay is paused before each failed login's reply, times the
	// address's failures in the window; 0 means no pause.
	FailureDelay time.Duration
	Log          *maillog.Logger // nil discards
	Debug        *slog.Logger    // nil discards
}

// defaultTimeout is RFC 1939 §3: an autologout timer of at least 10
// minutes.
const defaultTimeout = 10 * time.Minute

func (c *Config) setDefaults() {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.Failures == nil {
		c.Failures = limiter.New(10, 300*time.Second, time.Now)
	}
	if c.Log == nil {
		c.Log = maillog.New(nil)
	}
	c.Log = c.Log.Service("pop3d")
	if c.Debug == nil {
		c.Debug = slog.New(slog.DiscardHandler)
	}
}

// Server accepts POP3 connections.
type Server struct {
	cfg   Config
	drops Maildrops
	// sleep pauses before a failed login's reply; tests replace it.
	sleep func(ctx context.Context, d time.Duration)

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	locked    map[string]struct{} // accounts in a TRANSACTION state
	wg        sync.WaitGroup
	panics    int
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("pop3d: server closed")

// NewServer returns a server with cfg on the maildrops d.
func NewServer(cfg Config, d Maildrops) *Server {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, drops: d, sleep: limiter.Sleep, ctx: ctx, cancel: cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
		locked:    make(map[string]struct{})}
}

// Serve accepts connections on ln until Close, one session each. With
// implicitTLS (pop3s, RFC 8314 §3.3) TLS starts at the first octet.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		ln.Close()
		return errors.New("pop3d: implicit TLS needs a TLS configuration")
	}
	if !s.track(ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.track(ln, false)
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.cfg.Debug.Warn("pop3d: accept failed", "err", err, "retry", delay)
				limiter.Sleep(s.ctx, delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.addConn(conn) {
			conn.Close()
			return ErrServerClosed
		}
		go s.run(conn, implicitTLS)
	}
}

// Close stops the listeners and ends every session; sessions in the
// middle of a QUIT finish it first. Deletions not yet committed by a QUIT
// are dropped, as on any lost connection (RFC 1939 §6).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.SetDeadline(time.Now())
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.cancel()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		return true
	}
	if s.closed {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) addConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) removeConn(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// lock takes account's maildrop for one session (RFC 1939 §8: the
// exclusive-access lock); false when another session holds it.
func (s *Server) lock(account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locked[account]; ok {
		return false
	}
	s.locked[account] = struct{}{}
	return true
}

func (s *Server) unlock(account string) {
	s.mu.Lock()
	delete(s.locked, account)
	s.mu.Unlock()
}

// clientAddr is the connection's remote address, the zero address when it
// has none.
func clientAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}
