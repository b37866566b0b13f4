package smtpd

import (
	"bufio"
	"context"
	"net"
	"time"

	"facteur/internal/smtp"
)

// forceGrace is how long Shutdown waits, once its context is done, for the
// sessions it interrupted to send their 421 before it closes them.
const forceGrace = time.Second

// Shutdown stops accepting connections, sends 421 4.3.2 to the sessions
// that wait for a command outside a transaction, and lets transactions in
// flight finish until ctx is done; then it sends them 421 and closes them.
// It returns when every session has ended, with ctx's error if it had to
// cut sessions short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.stop)
	}
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.forEachSession(func(ss *session) { ss.kickIfIdle() })

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.forEachSession(func(ss *session) { ss.kick(true) })
	select {
	case <-done:
	case <-time.After(forceGrace):
		s.forEachSession(func(ss *session) { ss.raw.Close() })
		<-done
	}
	return ctx.Err()
}

func (s *Server) forEachSession(f func(*session)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		f(ss)
	}
}

// register adds ss to the sessions that Shutdown reaches; false when the
// server is already closing.
func (s *Server) register(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.sessions[ss] = struct{}{}
	return true
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ss)
}

// refuse writes one reply on a connection that gets no session, and
// closes it.
func refuse(conn net.Conn, timeout time.Duration, r *smtp.Reply) {
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(timeout))
	w := bufio.NewWriterSize(conn, 256)
	smtp.WriteReply(w, r, true)
	w.Flush()
}

// timeoutConn puts a deadline on every read and write of a session
// (smtpd_timeout), and lets Shutdown interrupt a read.
type timeoutConn struct {
	net.Conn
	ss *session
}

func (c timeoutConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.ss.srv.cfg.Timeout))
	if c.ss.hard.Load() || c.ss.kicked.Load() && c.ss.idle.Load() {
		// Shutdown stores kicked, then sets a past deadline; this covers
		// a store that came between our deadline and our read.
		c.Conn.SetReadDeadline(time.Now())
	}
	return c.Conn.Read(p)
}

func (c timeoutConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.ss.srv.cfg.Timeout))
	return c.Conn.Write(p)
}
