package imapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"facteur/internal/limiter"
)

// Server accepts IMAP connections.
type Server struct {
	cfg   Config
	store Store
	imap  *imapserver.Server
	// sleep pauses before a failed login's reply; tests replace it.
	sleep func(ctx context.Context, d time.Duration)

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	idle     *sync.Cond // signalled when conns or sessions fall
	closed   bool
	conns    map[*guard]struct{}
	sessions int
	panics   int
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("imapd: server closed")

// caps are the capabilities after login; before it, the guard announces
// its own. IDLE, UNSELECT and ENABLE come with IMAP4rev1 in the library.
var caps = imap.CapSet{
	imap.CapIMAP4rev1:    {},
	imap.CapIMAP4rev2:    {},
	imap.CapNamespace:    {},
	imap.CapUIDPlus:      {},
	imap.CapESearch:      {},
	imap.CapSearchRes:    {},
	imap.CapListExtended: {},
	imap.CapListStatus:   {},
	imap.CapMove:         {},
	imap.CapStatusSize:   {},
	imap.CapBinary:       {},
	imap.CapChildren:     {},
	imap.CapSpecialUse:   {},
	imap.CapLiteralPlus:  {},
}

// NewServer returns a server with cfg over the store st.
func NewServer(cfg Config, st Store) *Server {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, store: st, sleep: limiter.Sleep, ctx: ctx, cancel: cancel,
		conns: make(map[*guard]struct{})}
	s.idle = sync.NewCond(&s.mu)
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       caps,
		Logger:     libLogger{s},
		// The guard decides who may log in (Session.Login) and does
		// STARTTLS; the library sees no *tls.Conn.
		InsecureAuth: true,
	})
	return s
}

// Serve accepts connections on ln until Close. With implicitTLS (imaps,
// RFC 8314 §3.3) TLS starts at the first octet.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		ln.Close()
		return errors.New("imapd: implicit TLS needs a TLS configuration")
	}
	if s.isClosed() {
		ln.Close()
		return ErrServerClosed
	}
	err := s.imap.Serve(&listener{Listener: ln, srv: s, implicitTLS: implicitTLS})
	if s.isClosed() {
		return ErrServerClosed
	}
	if err == nil {
		err = net.ErrClosed
	}
	return err
}

// Close stops the listeners, closes every connection and waits for the
// sessions to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for g := range s.conns {
		g.raw.Close()
	}
	s.mu.Unlock()
	s.imap.Close()
	s.cancel()
	s.mu.Lock()
	for len(s.conns) > 0 || s.sessions > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
	return nil
}

// Panics returns the number of sessions that ended in a panic, which the
// library recovered and logged.
func (s *Server) Panics() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.panics
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track adds a connection; false once Close has begun.
func (s *Server) track(g *guard) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[g] = struct{}{}
	return true
}

func (s *Server) forget(g *guard) {
	s.mu.Lock()
	delete(s.conns, g)
	s.idle.Broadcast()
	s.mu.Unlock()
}

// listener wraps each accepted connection in a guard.
type listener struct {
	net.Listener
	srv         *Server
	implicitTLS bool
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g := newGuard(l.srv, c, l.implicitTLS)
		if l.srv.track(g) {
			return g, nil
		}
		c.Close()
	}
}

// libLogger takes the library's error messages to the debug log and
// counts the panics it recovered.
type libLogger struct{ s *Server }

func (l libLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(msg, "panic") {
		l.s.mu.Lock()
		l.s.panics++
		l.s.mu.Unlock()
		l.s.cfg.Debug.Error("imapd: session panic", "msg", msg)
		return
	}
	l.s.cfg.Debug.Info("imapd: " + msg)
}
