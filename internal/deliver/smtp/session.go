package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"facteur/internal/queue"
	wire "facteur/internal/smtp"
)

// writeBufferSize is the session's write buffer: a pipelined group of
// commands goes out in one write (RFC 2920 §3.1), and message data in
// large writes.
const writeBufferSize = 32 << 10

// session is one connection to a next hop, past its greeting and EHLO.
type session struct {
	c   *Client
	t   target
	raw net.Conn // the TCP connection
	nc  net.Conn // raw, or the TLS connection over it
	r   *wire.Reader
	w   *bufio.Writer
	wt  time.Duration // deadline of the next write
	buf []byte        // for copying message data

	ext      extensions
	tls      string // "TLSv1.3 TLS_AES_128_GCM_SHA256", "" without TLS
	broken   bool   // the dialogue is out of step or the connection failed
	needRset bool   // a transaction was started and not finished
}

// extensions are what the next hop announced in its EHLO reply.
type extensions struct {
	esmtp      bool
	pipelining bool // RFC 2920
	size       bool // RFC 1870
	sizeLimit  int64
	eightBit   bool // RFC 6152
	smtputf8   bool // RFC 6531
	dsn        bool // RFC 3461
	starttls   bool // RFC 3207
	chunking   bool // RFC 3030
	binary     bool // RFC 3030 BINARYMIME
}

func (s *session) relay() string { return s.t.relay() }

// connWriter and connReader go through the session's current connection
// (plain or TLS), the writer setting a deadline before every write.
type connWriter struct{ s *session }

func (w connWriter) Write(p []byte) (int, error) {
	w.s.nc.SetWriteDeadline(time.Now().Add(w.s.wt))
	return w.s.nc.Write(p)
}

type connReader struct{ s *session }

func (r connReader) Read(p []byte) (int, error) { return r.s.nc.Read(p) }

// openFailure is a session that could not be opened: its result, and
// whether a plaintext connection to the same address may do better
// (a failed TLS handshake under "may").
type openFailure struct {
	res      queue.Result
	fallback bool
}

// open connects to t and goes through greeting, EHLO and STARTTLS as
// level says.
func (c *Client) open(ctx context.Context, t target, level string) (*session, *openFailure) {
	d := net.Dialer{Timeout: c.opt.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(t.addr, uint16(t.port)).String())
	if err != nil {
		c.debug.Info("connect failed", "relay", t.relay(), "err", err)
		return nil, &openFailure{res: connectFailure(ctx, t, err)}
	}
	s := &session{c: c, t: t, raw: nc, nc: nc}
	s.r = wire.NewReader(connReader{s})
	s.w = bufio.NewWriterSize(connWriter{s}, writeBufferSize)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	f := s.handshake(ctx, level)
	if !stop() {
		f = &openFailure{res: interrupted}
	}
	if f != nil {
		if f.res.Status == queue.Bounced && !s.broken {
			// RFC 5321 §3.1: QUIT after a 554 greeting; its reply
			// tells nothing.
			s.send(s.c.opt.QuitTimeout, "QUIT")
			s.flush()
		}
		s.close()
		return nil, f
	}
	return s, nil
}

// handshake reads the greeting, says EHLO (or HELO) and starts TLS.
func (s *session) handshake(ctx context.Context, level string) *openFailure {
	r, err := s.reply(s.c.opt.HeloTimeout)
	if err != nil {
		return &openFailure{res: s.ioFailure(ctx, err, "receiving the initial server greeting")}
	}
	if r.Code != 220 {
		return &openFailure{res: s.refused(r)}
	}
	if f := s.hello(ctx); f != nil {
		return f
	}
	if level == TLSNone || (level == TLSMay && !s.ext.starttls) {
		return nil
	}
	return s.starttls(ctx, level)
}

// hello says EHLO, or HELO when EHLO is refused as unknown (RFC 5321
// §4.1.4: a server that does not speak ESMTP answers 500 or 502), and
// records the extensions.
func (s *session) hello(ctx context.Context) *openFailure {
	r, err := s.command(s.c.opt.HeloTimeout, "EHLO "+s.c.opt.Hostname)
	if err != nil {
		return &openFailure{res: s.ioFailure(ctx, err, "performing the EHLO handshake")}
	}
	if r.Code/100 == 2 {
		s.ext = parseEHLO(r)
		return nil
	}
	if r.Code == 421 || r.Code/100 != 5 {
		return &openFailure{res: s.refused(r)}
	}
	r, err = s.command(s.c.opt.HeloTimeout, "HELO "+s.c.opt.Hostname)
	if err != nil {
		return &openFailure{res: s.ioFailure(ctx, err, "performing the HELO handshake")}
	}
	if r.Code/100 != 2 {
		return &openFailure{res: s.refused(r)}
	}
	s.ext = extensions{}
	return nil
}

// parseEHLO reads the extension keywords of an EHLO reply (RFC 5321
// §4.1.1.1: one per line after the first).
func parseEHLO(r *wire.Reply) extensions {
	ext := extensions{esmtp: true}
	for _, l := range r.Lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "PIPELINING":
			ext.pipelining = true
		case "SIZE":
			ext.size = true
			if len(f) > 1 {
				if n, err := strconv.ParseInt(f[1], 10, 64); err == nil && n > 0 {
					ext.sizeLimit = n
				}
			}
		case "8BITMIME":
			ext.eightBit = true
		case "SMTPUTF8":
			ext.smtputf8 = true
		case "DSN":
			ext.dsn = true
		case "STARTTLS":
			ext.starttls = true
		case "CHUNKING":
			ext.chunking = true
		case "BINARYMIME":
			ext.binary = true
		}
	}
	return ext
}

// starttls upgrades the connection (RFC 3207) and says EHLO again
// (RFC 3207 §4.2: the server forgets what it knew). Under "encrypt", a
// next hop without STARTTLS, or one that fails, is a failure; under
// "may", a refused STARTTLS goes on in plaintext and a failed handshake
// asks for a plaintext connection.
func (s *session) starttls(ctx context.Context, level string) *openFailure {
	if !s.ext.starttls {
		return &openFailure{res: s.tlsFailure("4.7.4",
			fmt.Sprintf("TLS is required, but was not offered by host %s", s.t.name()))}
	}
	r, err := s.command(s.c.opt.HeloTimeout, "STARTTLS")
	if err != nil {
		return &openFailure{res: s.ioFailure(ctx, err, "sending STARTTLS"), fallback: level == TLSMay}
	}
	if r.Code != 220 {
		if level == TLSMay {
			s.c.debug.Info("STARTTLS refused, going on in plaintext", "relay", s.relay(), "reply", r.Error())
			return nil
		}
		res := s.said(r, "STARTTLS")
		res.Status, res.DSN = queue.Deferred, "4.7.4"
		return &openFailure{res: res}
	}
	if s.r.Buffered() > 0 {
		// Text after the 220 was sent before TLS and would be read as
		// if it came after (CVE-2011-0411): the next hop is broken.
		return &openFailure{res: s.tlsFailure("4.7.5", "Cannot start TLS: data after the STARTTLS reply"),
			fallback: level == TLSMay}
	}
	tc := tls.Client(s.raw, s.c.tlsConfig(s.t.host))
	s.raw.SetDeadline(time.Now().Add(s.c.opt.StartTLSTimeout))
	err = tc.HandshakeContext(ctx)
	s.raw.SetDeadline(time.Time{})
	if err != nil {
		s.c.debug.Info("TLS handshake failed", "relay", s.relay(), "err", err)
		if ctx.Err() != nil {
			return &openFailure{res: interrupted}
		}
		return &openFailure{res: s.tlsFailure("4.7.5", "Cannot start TLS: handshake failure"), fallback: level == TLSMay}
	}
	s.nc = tc
	st := tc.ConnectionState()
	s.tls = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	return s.hello(ctx)
}

// tlsFailure is a TLS failure: the session is unusable.
func (s *session) tlsFailure(dsn, text string) queue.Result {
	s.broken = true
	return queue.Result{Status: queue.Deferred, DSN: dsn, Text: text, Relay: s.relay()}
}

// tlsConfig is the configuration for a session with host: TLS 1.2 or
// later; no certificate verification unless the base configuration has
// roots to verify against.
func (c *Client) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{}
	if c.opt.TLSConfig != nil {
		cfg = c.opt.TLSConfig.Clone()
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.RootCAs == nil {
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// reply reads one reply within timeout.
func (s *session) reply(timeout time.Duration) (*wire.Reply, error) {
	s.nc.SetReadDeadline(time.Now().Add(timeout))
	return wire.ReadReply(s.r)
}

// send writes one command line (without flushing) under timeout.
func (s *session) send(timeout time.Duration, line string) {
	s.wt = timeout
	s.w.WriteString(line)
	s.w.WriteString("\r\n")
}

// flush writes out what send buffered.
func (s *session) flush() error { return s.w.Flush() }

// command sends one command and reads its reply, both within timeout.
func (s *session) command(timeout time.Duration, line string) (*wire.Reply, error) {
	s.send(timeout, line)
	if err := s.flush(); err != nil {
		return nil, err
	}
	return s.reply(timeout)
}

// quit ends the session politely: QUIT, its reply within QuitTimeout,
// then close. A broken session is only closed.
func (s *session) quit() {
	if !s.broken {
		if _, err := s.command(s.c.opt.QuitTimeout, "QUIT"); err != nil {
			s.c.debug.Debug("QUIT failed", "relay", s.relay(), "err", err)
		}
	}
	s.close()
}

func (s *session) close() {
	s.broken = true
	s.raw.Close()
}
