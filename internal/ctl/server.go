package ctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Handler runs one operation. What it writes to out is streamed to the
// client for its user; its error becomes the error of the client's Call
// (wrap ErrNotFound for an unknown object). Handlers run concurrently, and
// ctx ends when the server stops.
type Handler func(ctx context.Context, args []string, out io.Writer) error

// StreamHandler is a Handler that also reads the request's payload: in
// returns io.EOF at the payload's end mark, and an error wrapping
// io.ErrUnexpectedEOF when the client went away before it.
type StreamHandler func(ctx context.Context, args []string, in io.Reader, out io.Writer) error

// Server timeouts and limits.
const (
	headerTimeout = 10 * time.Second // from connect to the end of the header line
	idleTimeout   = 5 * time.Minute  // for each payload read and each reply write
	lingerTime    = time.Second      // draining unread input after the reply
	lingerBytes   = 1 << 20
	maxConns      = 32 // requests served at once; more wait in the backlog
	probeTimeout  = 2 * time.Second
	// maxPath is the longest path a sockaddr_un holds, its NUL excluded.
	maxPath = 107
)

// aLongTimeAgo is a deadline that makes a blocked read or write return.
var aLongTimeAgo = time.Unix(1, 0)

// Server serves requests on a control socket.
type Server struct {
	// Log, when set before Serve, gets refused peers, malformed requests
	// and recovered panics; nil discards them.
	Log *slog.Logger

	path    string
	ln      *net.UnixListener
	uid     uint32                              // ours: peers must have it, or be root
	peerUID func(*net.UnixConn) (uint32, error) // the peer's uid; tests replace it
	header  time.Duration
	idle    time.Duration

	mu       sync.Mutex
	handlers map[string]route
	serving  bool
	closed   bool
	cancel   context.CancelFunc // ends the requests in progress
	wg       sync.WaitGroup
	panics   atomic.Int64
}

type route struct {
	h     StreamHandler
	input bool
}

// Listen makes the control socket at path, mode 0600, creating its
// directory with mode 0700 when it does not exist. A socket file nobody
// answers on (left by a server that died) is replaced; when a live server
// answers there, Listen fails with an error wrapping ErrRunning.
func Listen(path string) (*Server, error) {
	if len(path) > maxPath {
		return nil, fmt.Errorf("control socket path %s is too long (%d bytes; a Unix socket path holds at most %d)", path, len(path), maxPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the control socket's directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// The socket is born with the umask's mode: until this chmod, the
	// peer check alone keeps other users out.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting the mode of %s: %w", path, err)
	}
	return &Server{
		path:     path,
		ln:       ln,
		uid:      uint32(os.Geteuid()),
		peerUID:  peerUID,
		header:   headerTimeout,
		idle:     idleTimeout,
		handlers: make(map[string]route),
	}, nil
}

// removeStale removes the socket at path if nobody answers on it.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	conn, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%w (%s)", ErrRunning, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}

// Handle registers the handler of an operation that takes no payload. A
// later registration of the same op replaces the earlier one.
func (s *Server) Handle(op string, h Handler) {
	s.setRoute(op, route{h: func(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
		return h(ctx, args, out)
	}})
}

// HandleStream registers the handler of an operation whose request may
// carry a payload (a request without one reads as empty).
func (s *Server) HandleStream(op string, h StreamHandler) {
	s.setRoute(op, route{h: h, input: true})
}

func (s *Server) setRoute(op string, r route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[op] = r
}

func (s *Server) route(op string) (route, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.handlers[op]
	return r, ok
}

// Serve answers requests until ctx ends or Close is called, then closes
// and removes the socket, ends the requests in progress (their context is
// cancelled and their connection cut) and returns once they have.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.serving || s.closed {
		s.mu.Unlock()
		return errors.New("control socket closed or already served")
	}
	s.serving, s.cancel = true, cancel
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()

	s.accept(ctx)
	s.Close()
	s.wg.Wait()
	return nil
}

func (s *Server) accept(ctx context.Context) {
	sem := make(chan struct{}, maxConns)
	var delay time.Duration
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			<-sem
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like pass: wait a little, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log().Warn("ctl: accept", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-sem }()
			s.serveConn(ctx, conn)
		}()
	}
}

// Close closes and removes the socket and ends the requests in progress.
// Serve, if running, returns once they have ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	// A listener made by ListenUnix removes its socket file on Close.
	if err := s.ln.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", s.path, err)
	}
	return nil
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// serveConn answers one request.
func (s *Server) serveConn(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	c := &srvConn{conn: conn, ctx: ctx, idle: s.idle}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	defer stop()
	w := &replyWriter{c: c}
	defer c.linger()

	if err := s.checkPeer(conn); err != nil {
		s.log().Warn("ctl: refused a client", "err", err)
		w.end(errors.New("permission denied: only the owner of the server may use its control socket"))
		return
	}
	br := bufio.NewReaderSize(conn, maxLine)
	c.readDeadline(s.header)
	line, err := br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return // connected and left: Listen's probe
		}
		err = headerError(err)
		s.log().Debug("ctl: bad request", "err", err)
		w.end(err)
		return
	}
	req, err := parseRequest(line)
	if err == nil {
		err = s.dispatch(ctx, req, br, c, w)
	}
	if err != nil {
		s.log().Debug("ctl: request failed", "op", req.Op, "err", err)
	}
	w.end(err)
}

func headerError(err error) error {
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return fmt.Errorf("malformed request: header line longer than %d bytes", maxLine)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errors.New("timeout waiting for the request")
	case errors.Is(err, io.EOF):
		return errors.New("malformed request: header line without its end")
	}
	return fmt.Errorf("reading the request: %w", err)
}

// dispatch runs the handler of req.
func (s *Server) dispatch(ctx context.Context, req request, br *bufio.Reader, c *srvConn, w *replyWriter) error {
	r, ok := s.route(req.Op)
	switch {
	case !ok:
		return fmt.Errorf("unknown operation %q", req.Op)
	case req.Input && !r.input:
		return fmt.Errorf("operation %q takes no input", req.Op)
	}
	var in io.Reader = eofReader{}
	if req.Input {
		in = &payloadReader{r: br, wait: func() { c.readDeadline(c.idle) }}
	}
	return s.run(ctx, r.h, req, in, w)
}

// run calls h, turning a panic into an error reply (STYLE 8): a handler
// must not take the daemon down.
func (s *Server) run(ctx context.Context, h StreamHandler, req request, in io.Reader, out io.Writer) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.panics.Add(1)
			s.log().Error("ctl: handler panic", "op", req.Op, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s", req.Op)
		}
	}()
	return h(ctx, req.Args, in, out)
}

// checkPeer lets in only our own uid and root.
func (s *Server) checkPeer(conn *net.UnixConn) error {
	s.mu.Lock()
	peer := s.peerUID
	s.mu.Unlock()
	uid, err := peer(conn)
	if err != nil {
		return fmt.Errorf("reading the client's credentials: %w", err)
	}
	if uid != s.uid && uid != 0 {
		return fmt.Errorf("client uid %d is neither the server's (%d) nor root", uid, s.uid)
	}
	return nil
}

// srvConn sets the deadlines of one connection so that the end of ctx
// always wins: a deadline set after the cancellation is put back in the
// past.
type srvConn struct {
	conn *net.UnixConn
	ctx  context.Context
	idle time.Duration
}

func (c *srvConn) readDeadline(d time.Duration) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	if c.ctx.Err() != nil {
		c.conn.SetReadDeadline(aLongTimeAgo)
	}
}

func (c *srvConn) writeDeadline(d time.Duration) {
	c.conn.SetWriteDeadline(time.Now().Add(d))
	if c.ctx.Err() != nil {
		c.conn.SetWriteDeadline(aLongTimeAgo)
	}
}

// linger ends a connection whose input may be unread (a refused client,
// a handler that stopped before the payload's end): the write side is
// shut first and the input drained for a moment, so that a client still
// sending gets its reply and an orderly end, not a reset.
func (c *srvConn) linger() {
	if c.conn.CloseWrite() != nil {
		return
	}
	c.readDeadline(lingerTime)
	io.Copy(io.Discard, io.LimitReader(c.conn, lingerBytes))
}

// replyWriter writes the frames of a reply; handlers get it as out.
type replyWriter struct {
	c     *srvConn
	mu    sync.Mutex
	ended bool
	err   error // the first write error: the client is gone
}

var errEnded = errors.New("write after the end of the reply")

// Write sends p as output frames.
func (w *replyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.ended:
		return 0, errEnded
	case w.err != nil:
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		if err := w.frame(kindOutput, chunk); err != nil {
			w.err = fmt.Errorf("writing to the client: %w", err)
			return n, w.err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// end sends the final frame: success when err is nil.
func (w *replyWriter) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || w.err != nil {
		w.ended = true
		return
	}
	w.ended = true
	if err == nil {
		w.frame(kindOK, nil)
		return
	}
	w.frame(kindError, encodeError(err))
}

func (w *replyWriter) frame(kind byte, data []byte) error {
	hdr := frameHeader(kind, len(data))
	w.c.writeDeadline(w.c.idle)
	bufs := net.Buffers{hdr[:], data}
	_, err := bufs.WriteTo(w.c.conn)
	return err
}

// eofReader is the input of a request without a payload.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
