package smtp

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// Replies a sink's hooks may give besides a reply text.
const (
	sinkHang  = "-hang"  // say nothing; wait for the client
	sinkClose = "-close" // close the connection
)

// sinkConfig scripts a test SMTP server. The zero value is a well-behaved
// ESMTP server with defaultExt.
type sinkConfig struct {
	greeting string   // "220 sink.test ESMTP" when empty
	ext      []string // EHLO keywords; nil means defaultExt
	noEHLO   bool     // 502 to EHLO: the client must say HELO
	// tls offers STARTTLS with this configuration; brokenTLS offers it
	// and then sends text that is not TLS.
	tls       *tls.Config
	brokenTLS bool
	// strictPipelining reads MAIL, every RCPT and DATA before it answers
	// any of them: a client that waits for the MAIL reply first times out.
	strictPipelining bool
	maxRcpt          int  // 452 after this many accepted RCPTs in a transaction
	discard          bool // keep no message data (benchmarks)
	// on may answer a command line (or "." for the end of data, "DATA-LINE"
	// after the first line of message text) before the defaults do: a
	// reply text (CRLF added), sinkHang or sinkClose; "" for the default.
	on func(sc *sinkConn, line string) string
}

var defaultExt = []string{"PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8"}

// sink is a test SMTP server on one loopback address.
type sink struct {
	t    testing.TB
	cfg  sinkConfig
	ln   net.Listener
	addr netip.AddrPort

	mu      sync.Mutex
	conns   []*sinkConn
	open    map[net.Conn]bool
	active  int
	maxSeen int // most sessions at once
	closed  bool
	wg      sync.WaitGroup
}

// sinkConn is what one connection received.
type sinkConn struct {
	mu        sync.Mutex
	cmds      []string
	msgs      []sinkMsg
	tls       bool
	pipelined []string // commands read with more input already waiting behind them
}

// sinkMsg is one message received: envelope and the data as sent on the
// wire, dot-stuffed, without the final ".\r\n".
type sinkMsg struct {
	mail  string
	rcpts []string
	data  []byte
}

// newSink starts a sink on 127.0.0.1, port chosen by the system.
func newSink(t testing.TB, cfg sinkConfig) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startSink(t, cfg, ln)
}

// newSinks starts one sink per configuration, on 127.0.0.1, 127.0.0.2,
// ... and one port, since every MX is dialed on Options.Port.
func newSinks(t testing.TB, cfgs ...sinkConfig) []*sink {
	t.Helper()
	for try := 0; try < 20; try++ {
		var lns []net.Listener
		port := 0
		for i := range cfgs {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+1, port))
			if err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			lns = append(lns, ln)
		}
		if len(lns) == len(cfgs) {
			sinks := make([]*sink, len(cfgs))
			for i, ln := range lns {
				sinks[i] = startSink(t, cfgs[i], ln)
			}
			return sinks
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatal("no port free on every loopback address")
	return nil
}

func startSink(t testing.TB, cfg sinkConfig, ln net.Listener) *sink {
	if cfg.ext == nil {
		cfg.ext = defaultExt
	}
	s := &sink{t: t, cfg: cfg, ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), open: make(map[net.Conn]bool)}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

// close stops the sink and waits for its sessions to end.
func (s *sink) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// connections returns what each connection received so far.
func (s *sink) connections() []*sinkConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sinkConn(nil), s.conns...)
}

// messages returns every message received, in order.
func (s *sink) messages() []sinkMsg {
	var msgs []sinkMsg
	for _, c := range s.connections() {
		c.mu.Lock()
		msgs = append(msgs, c.msgs...)
		c.mu.Unlock()
	}
	return msgs
}

func (s *sink) maxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxSeen
}

func (s *sink) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		sc := &sinkConn{}
		s.conns = append(s.conns, sc)
		s.open[nc] = true
		s.active++
		s.maxSeen = max(s.maxSeen, s.active)
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(nc, sc)
			nc.Close()
			s.mu.Lock()
			delete(s.open, nc)
			s.active--
			s.mu.Unlock()
		}()
	}
}

// sinkSession is the state of one connection's dialogue.
type sinkSession struct {
	s     *sink
	sc    *sinkConn
	nc    net.Conn
	br    *bufio.Reader
	msg   *sinkMsg
	nrcpt int
}

func (s *sink) session(nc net.Conn, sc *sinkConn) {
	ss := &sinkSession{s: s, sc: sc, nc: nc, br: bufio.NewReader(nc)}
	greeting := s.cfg.greeting
	if greeting == "" {
		greeting = "220 sink.test ESMTP"
	}
	if !ss.write(greeting) {
		return
	}
	for {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		if s.cfg.strictPipelining && strings.HasPrefix(strings.ToUpper(line), "MAIL") {
			if !ss.pipelinedGroup(line) {
				return
			}
			continue
		}
		reply := ss.answer(line)
		if reply == "" {
			continue
		}
		if !ss.write(reply) || ss.nc == nil {
			return
		}
		if strings.HasPrefix(reply, "354") && !ss.receiveData() {
			return
		}
	}
}

// readLine reads one command line and records it.
func (ss *sinkSession) readLine() (string, error) {
	line, err := ss.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	ss.sc.mu.Lock()
	ss.sc.cmds = append(ss.sc.cmds, line)
	if ss.br.Buffered() > 0 {
		ss.sc.pipelined = append(ss.sc.pipelined, line)
	}
	ss.sc.mu.Unlock()
	return line, nil
}

// write sends a reply; sinkHang sends nothing, sinkClose closes.
func (ss *sinkSession) write(reply string) bool {
	switch reply {
	case sinkHang:
		return true
	case sinkClose:
		return false
	}
	if !strings.HasSuffix(reply, "\n") {
		reply += "\r\n"
	}
	_, err := io.WriteString(ss.nc, reply)
	return err == nil
}

// answer returns the reply to one command line.
func (ss *sinkSession) answer(line string) string {
	if ss.s.cfg.on != nil {
		if r := ss.s.cfg.on(ss.sc, line); r != "" {
			return r
		}
	}
	verb, arg, _ := strings.Cut(line, " ")
	switch strings.ToUpper(verb) {
	case "EHLO":
		if ss.s.cfg.noEHLO {
			return "502 5.5.2 Error: command not recognized"
		}
		ext := ss.s.cfg.ext
		if ss.s.cfg.tls != nil || ss.s.cfg.brokenTLS {
			if !ss.sc.tls {
				ext = append([]string{"STARTTLS"}, ext...)
			}
		}
		lines := append([]string{"sink.test"}, ext...)
		var b strings.Builder
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			b.WriteString("250" + sep + l + "\r\n")
		}
		return b.String()
	case "HELO":
		return "250 sink.test"
	case "STARTTLS":
		return ss.starttls()
	case "MAIL":
		ss.msg = &sinkMsg{mail: arg}
		ss.nrcpt = 0
		return "250 2.1.0 Ok"
	case "RCPT":
		if ss.msg == nil {
			return "503 5.5.1 Error: need MAIL command"
		}
		if ss.s.cfg.maxRcpt > 0 && ss.nrcpt >= ss.s.cfg.maxRcpt {
			return "452 4.5.3 Error: too many recipients"
		}
		ss.nrcpt++
		ss.msg.rcpts = append(ss.msg.rcpts, arg)
		return "250 2.1.5 Ok"
	case "DATA":
		if ss.msg == nil || len(ss.msg.rcpts) == 0 {
			return "554 5.5.1 Error: no valid recipients"
		}
		return "354 End data with <CR><LF>.<CR><LF>"
	case "RSET":
		ss.msg = nil
		return "250 2.0.0 Ok"
	case "NOOP":
		return "250 2.0.0 Ok"
	case "QUIT":
		ss.write("221 2.0.0 Bye")
		return sinkClose
	}
	return "502 5.5.2 Error: command not recognized"
}

// pipelinedGroup reads MAIL (already read), the RCPTs and DATA without
// answering, then answers them all.
func (ss *sinkSession) pipelinedGroup(mail string) bool {
	lines := []string{mail}
	for !strings.EqualFold(lines[len(lines)-1], "DATA") {
		line, err := ss.readLine()
		if err != nil {
			return false
		}
		lines = append(lines, line)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(ss.answer(l))
		b.WriteString("\r\n")
	}
	reply := strings.TrimSuffix(b.String(), "\r\n")
	if !ss.write(reply) {
		return false
	}
	if strings.HasSuffix(reply, "354 End data with <CR><LF>.<CR><LF>") {
		return ss.receiveData()
	}
	return true
}

// starttls answers STARTTLS and goes over to TLS.
func (ss *sinkSession) starttls() string {
	cfg := ss.s.cfg
	if cfg.brokenTLS {
		// Answer the ClientHello with text.
		ss.write("220 2.0.0 Ready to start TLS")
		if _, err := ss.br.ReadByte(); err == nil {
			ss.write("this is not a TLS handshake")
		}
		return sinkClose
	}
	if cfg.tls == nil || ss.sc.tls {
		return "502 5.5.2 Error: command not recognized"
	}
	if !ss.write("220 2.0.0 Ready to start TLS") {
		return sinkClose
	}
	tc := tls.Server(ss.nc, cfg.tls)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return sinkClose
	}
	tc.SetDeadline(time.Time{})
	ss.nc = tc
	ss.br = bufio.NewReader(tc)
	ss.msg = nil
	ss.sc.mu.Lock()
	ss.sc.tls = true
	ss.sc.mu.Unlock()
	return sinkHang // nothing more to say
}

// receiveData reads message data up to ".\r\n", keeping it as sent, and
// answers the end of data.
func (ss *sinkSession) receiveData() bool {
	var data []byte
	keep := func(p []byte) {
		if !ss.s.cfg.discard {
			data = append(data, p...)
		}
	}
	first := true
	for {
		line, err := ss.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			keep(line)
			continue
		}
		if err != nil {
			return false
		}
		if bytes.Equal(line, []byte(".\r\n")) {
			break
		}
		keep(line)
		if first && ss.s.cfg.on != nil {
			first = false
			if r := ss.s.cfg.on(ss.sc, "DATA-LINE"); r != "" && !ss.write(r) {
				return false
			}
		}
	}
	ss.msg.data = data
	ss.sc.mu.Lock()
	ss.sc.msgs = append(ss.sc.msgs, *ss.msg)
	ss.sc.mu.Unlock()
	ss.msg = nil
	reply := ""
	if ss.s.cfg.on != nil {
		reply = ss.s.cfg.on(ss.sc, ".")
	}
	if reply == "" {
		reply = "250 2.0.0 Ok: queued as SINK1"
	}
	return ss.write(reply)
}

// testCert makes a self-signed certificate for the sinks' TLS, and a
// pool holding it for a client that verifies.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sink.test"},
		DNSNames:              []string{"sink.test", "mx.sink.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
