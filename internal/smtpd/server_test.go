package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
)

// client is a minimal test client: send lines, read reply lines.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func newClient(t *testing.T, ts *testServer) *client {
	t.Helper()
	conn, r := ts.dial(t)
	c := &client{t: t, conn: conn, r: r}
	c.expect("220 *")
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// expect reads one reply line per pattern; multi-line replies are read to
// their last line when the pattern is for that line.
func (c *client) expect(patterns ...string) {
	c.t.Helper()
	for _, p := range patterns {
		line, err := c.r.ReadString('\n')
		line = strings.TrimSuffix(line, "\r\n")
		if err != nil || !match(p, line) {
			c.t.Fatalf("want %q, got %q, %v", p, line, err)
		}
	}
}

// ehlo sends EHLO and reads the whole reply.
func (c *client) ehlo() {
	c.t.Helper()
	c.send("EHLO client.example")
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("EHLO: %v", err)
		}
		if strings.HasPrefix(line, "250 ") {
			return
		}
	}
}

func (c *client) expectClosed() {
	c.t.Helper()
	if line, err := c.r.ReadString('\n'); err != io.EOF {
		c.t.Fatalf("want close, got %q, %v", line, err)
	}
}

func TestEnvelope(t *testing.T) {
	ts := startServer(t, baseConfig(), &fakePolicy{trusted: true}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	c.send("MAIL FROM:<jérôme@example.com> SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1",
		"RCPT TO:<alias@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@example.org",
		"RCPT TO:<B@Example.ORG>", "DATA")
	c.expect("250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 *")
	c.send("hi", ".", "QUIT")
	c.expect("250 2.0.0 Ok: queued as *", "221 *")
	ts.stop(t)

	want := &envelope.Envelope{
		Sender:   "jérôme@example.com",
		EnvID:    "QQ+1",
		Ret:      dsn.RetHdrs,
		Body:     "8BITMIME",
		SMTPUTF8: true,
		Client: envelope.Client{
			Helo: "client.example", Addr: netip.MustParseAddr("127.0.0.1"),
			Protocol: "UTF8SMTP", Local: true,
		},
		Recipients: []*envelope.Recipient{
			{Addr: "alias@example.org", Transport: "local", Dest: "one", Final: "one@example.org",
				Notify: dsn.NotifySuccess | dsn.NotifyDelay, ORCPT: dsn.ORCPT{Type: "rfc822", Addr: "x+y@example.org"}},
			{Addr: "alias@example.org", Transport: "local", Dest: "two", Final: "two@example.org",
				Notify: dsn.NotifySuccess | dsn.NotifyDelay, ORCPT: dsn.ORCPT{Type: "rfc822", Addr: "x+y@example.org"}},
			{Addr: "B@example.org", Transport: "local", Dest: "B", Final: "B@example.org"},
		},
	}
	got := ts.sink.last()
	if got == nil {
		t.Fatal("nothing queued")
	}
	if diff := cmp.Diff(want, got.env, cmpopts.IgnoreFields(envelope.Envelope{}, "Arrival"),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	if got.env.Arrival.IsZero() {
		t.Error("Arrival not set")
	}
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		greet, mail, want string
	}{
		{"HELO a.example", "MAIL FROM:<a@example.com>", "SMTP"},
		{"EHLO a.example", "MAIL FROM:<a@example.com>", "ESMTP"},
		{"EHLO a.example", "MAIL FROM:<a@example.com> SMTPUTF8", "UTF8SMTP"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
			c := newClient(t, ts)
			c.send(tt.greet)
			if strings.HasPrefix(tt.greet, "EHLO") {
				for line := ""; !strings.HasPrefix(line, "250 "); {
					line, _ = c.r.ReadString('\n')
				}
			} else {
				c.expect("250 *")
			}
			c.send(tt.mail, "RCPT TO:<b@example.org>", "DATA")
			c.expect("250 *", "250 *", "354 *")
			c.send(".", "QUIT")
			c.expect("250 *", "221 *")
			ts.stop(t)
			if m := ts.sink.last(); m == nil || m.env.Client.Protocol != tt.want || m.env.Client.Local {
				t.Errorf("client = %+v, want protocol %s, not local", m.env.Client, tt.want)
			}
		})
	}
}

func TestConnLimitPerClient(t *testing.T) {
	cfg := baseConfig()
	cfg.ConnLimitPerClient = 1
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	first := newClient(t, ts)
	conn, r := ts.dial(t)
	second := &client{t: t, conn: conn, r: r}
	second.expect("421 4.7.0 mx.example.org Error: too many connections from 127.0.0.1")
	second.expectClosed()
	first.send("QUIT")
	first.expect("221 *")
	first.expectClosed()
	// The slot is free again once the first session has ended.
	for i := 0; ; i++ {
		c, r := ts.dial(t)
		line, _ := r.ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "220 ") {
			break
		}
		if i == 100 {
			t.Fatalf("connection slot never freed: %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnLimitTrustedExempt(t *testing.T) {
	cfg := baseConfig()
	cfg.ConnLimitPerClient = 1
	ts := startServer(t, cfg, &fakePolicy{trusted: true}, &fakeSink{})
	newClient(t, ts)
	newClient(t, ts) // would get 421 if counted
}

func TestShutdownIdle(t *testing.T) {
	ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	ts.stop(t)
	c.expect("421 4.3.2 mx.example.org Service shutting down")
	c.expectClosed()
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("listener still open after Shutdown")
	}
}

func TestShutdownLetsTransactionFinish(t *testing.T) {
	ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	c.send("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>", "DATA")
	c.expect("250 *", "250 *", "354 *")
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	for !ts.srv.closing.Load() {
		runtime.Gosched()
	}
	c.send("in flight", ".")
	c.expect("250 2.0.0 Ok: queued as *", "421 4.3.2 *")
	c.expectClosed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if ts.sink.last() == nil {
		t.Error("message in flight was not queued")
	}
}

func TestShutdownForced(t *testing.T) {
	ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.ehlo()
	c.send("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>", "DATA")
	c.expect("250 *", "250 *", "354 *")
	c.send("half a message")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	c.expect("421 4.3.2 *")
	// The rest of the data may be unread: a reset is a close too.
	if line, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("want close, got %q", line)
	}
	if ts.sink.open != 0 || ts.sink.aborted != 1 {
		t.Errorf("open %d, aborted %d; want the message aborted", ts.sink.open, ts.sink.aborted)
	}
}

func TestPanicRecovered(t *testing.T) {
	ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.send("HELO a.example", "MAIL FROM:<a@example.com>", "RCPT TO:<panic@example.org>")
	c.expect("250 *", "250 *", "421 mx.example.org Error: internal error")
	c.expectClosed()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts.srv.Shutdown(ctx)
	if n := ts.srv.panics.Swap(0); n != 1 {
		t.Errorf("%d panics recorded, want 1", n)
	}
	if !anyMatch(ts.log.all(), "*warning: panic in session with unknown[127.0.0.1]: policy exploded*") {
		t.Errorf("panic not logged:\n%s", strings.Join(ts.log.all(), "\n"))
	}
}

// TestManyRecipients pipelines 10,000 RCPTs: only MaxRecipients are kept.
func TestManyRecipients(t *testing.T) {
	const n = 10000
	cfg := baseConfig()
	cfg.MaxRecipients = 100
	cfg.HardErrorLimit = 2 * n
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	c.send("HELO a.example", "MAIL FROM:<a@example.com>")
	c.expect("250 *", "250 *")
	go func() {
		w := bufio.NewWriter(c.conn)
		for i := range n {
			fmt.Fprintf(w, "RCPT TO:<r%d@example.org>\r\n", i)
		}
		w.WriteString("DATA\r\n")
		w.Flush()
	}()
	counts := map[string]int{}
	for range n {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		counts[strings.TrimSuffix(line, "\r\n")]++
	}
	want := map[string]int{"250 Ok": 100, "452 Error: too many recipients": n - 100}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("replies (-want +got):\n%s", diff)
	}
	c.expect("354 *")
	c.send(".", "QUIT")
	c.expect("250 *", "221 *")
	ts.stop(t)
	if m := ts.sink.last(); m == nil || len(m.env.Recipients) != 100 {
		t.Errorf("queued message has %d recipients, want 100", len(m.env.Recipients))
	}
}

func TestServeConn(t *testing.T) {
	sink := &fakeSink{}
	srv := NewServer(baseConfig(), &fakePolicy{trusted: true}, sink)
	server, conn := net.Pipe()
	done := make(chan struct{})
	go func() {
		srv.ServeConn(context.Background(), server)
		close(done)
	}()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220 mx.example.org ESMTP facteur")
	c.send("HELO localhost")
	c.expect("250 mx.example.org")
	c.send("MAIL FROM:<a@example.com>")
	c.expect("250 Ok")
	c.send("RCPT TO:<b@example.org>")
	c.expect("250 Ok")
	c.send("DATA")
	c.expect("354 *")
	c.send("x", ".")
	c.expect("250 Ok: queued as *")
	c.send("QUIT")
	c.expect("221 Bye")
	<-done
	if m := sink.last(); m == nil || m.env.Client.Addr.IsValid() || !m.env.Client.Local {
		t.Errorf("queued %+v, want a local client without address", m)
	}
}

// TestIdleSessionMemory holds 1,000 idle sessions and checks that they
// cost well under 50 MB (heap and stacks of both ends).
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const n = 1000
	ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
	before := inUse()
	conns := make([]*client, 0, n)
	for range n {
		c := newClient(t, ts)
		c.send("EHLO client.example")
		conns = append(conns, c)
	}
	for _, c := range conns {
		for line := ""; !strings.HasPrefix(line, "250 "); {
			line, _ = c.r.ReadString('\n')
		}
	}
	per := (inUse() - before) / n
	t.Logf("%d bytes per idle session (both ends)", per)
	if per*n > 25<<20 {
		t.Errorf("%d idle sessions use %d MB", n, per*n>>20)
	}
}

func inUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// nopSink takes messages and throws them away.
type nopSink struct{}

func (nopSink) SpaceOK() bool { return true }
func (nopSink) Begin(context.Context, *envelope.Envelope) (Message, error) {
	return nopMessage{}, nil
}

type nopMessage struct{}

func (nopMessage) ID() string                   { return "NOP" }
func (nopMessage) Write(p []byte) (int, error)  { return len(p), nil }
func (nopMessage) Commit(context.Context) error { return nil }
func (nopMessage) Abort()                       {}

func BenchmarkSession(b *testing.B) {
	srv := NewServer(baseConfig(), &fakePolicy{}, nopSink{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	io.WriteString(conn, "HELO bench.example\r\n")
	r.ReadString('\n')
	body := strings.Repeat("A line of a message body, long enough to be typical.\r\n", 60)
	tx := "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		io.WriteString(conn, tx)
		for range 3 {
			r.ReadString('\n')
		}
		io.WriteString(conn, body+".\r\n")
		if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "250 ") {
			b.Fatalf("got %q", line)
		}
	}
}

// TestLingerAfterRefusal checks that a client still pipelining commands
// when the hard error limit closes its session reads every reply up to
// the 421, then a clean close, rather than a connection reset.
func TestLingerAfterRefusal(t *testing.T) {
	cfg := baseConfig()
	cfg.HardErrorLimit = 3
	ts := startServer(t, cfg, &fakePolicy{}, &fakeSink{})
	c := newClient(t, ts)
	go c.conn.Write([]byte(strings.Repeat("BOGUS\r\n", 20000)))
	c.expect("500 Error: command not recognized", "500 *", "500 *", "421 mx.example.org Error: too many errors")
	c.expectClosed()
}
