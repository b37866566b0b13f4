package smtp

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"facteur/internal/dns"
	"facteur/internal/envelope"
	"facteur/internal/queue"
)

const testBody = "From: alice@example.com\r\nTo: bob@example.org\r\nSubject: test\r\n\r\nHello,\r\n.hidden line\r\n..two dots\r\nbye\r\n"

// memContent is a queued message's content held in memory.
type memContent []byte

func (m memContent) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m)), nil }

func testMessage(body string) message {
	return message{
		env:     &envelope.Envelope{ID: "4A5B6C7D8E", Sender: "alice@example.com", Size: int64(len(body)), Body: "7BIT"},
		content: memContent(body),
	}
}

func rcpts(addrs ...string) []*envelope.Recipient {
	var rs []*envelope.Recipient
	for _, a := range addrs {
		rs = append(rs, &envelope.Recipient{Addr: a, Dest: a, Transport: envelope.TransportSMTP})
	}
	return rs
}

// testOptions are options for a client that talks to sinks on port:
// generous timeouts, no connection cache, nothing local.
func testOptions(resolver dns.Resolver, port int) Options {
	const long = 20 * time.Second
	return Options{
		Hostname:       "client.test",
		Resolver:       resolver,
		LocalAddrs:     func() []netip.Addr { return nil },
		Port:           port,
		ConnectTimeout: long, HeloTimeout: long, MailTimeout: long, RcptTimeout: long,
		DataInitTimeout: long, DataXferTimeout: long, DataDoneTimeout: long,
		QuitTimeout: long, StartTLSTimeout: long,
		ConnCacheTime: -1,
	}
}

func newClient(t *testing.T, opt Options) *Client {
	t.Helper()
	c := New(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// mxFake is a resolver where example.org's MX are the sinks, in order
// of preference 10, 20, ...: mx1.example.org at sinks[0], and so on.
func mxFake(sinks ...*sink) *dns.Fake {
	f := &dns.Fake{IP: map[string][]netip.Addr{}, MX: map[string][]*net.MX{}}
	for i, s := range sinks {
		host := "mx" + string(rune('1'+i)) + ".example.org"
		f.MX["example.org"] = append(f.MX["example.org"], &net.MX{Host: host, Pref: uint16(10 * (i + 1))})
		f.IP[host] = []netip.Addr{s.addr.Addr()}
	}
	return f
}

func port(s *sink) int { return int(s.addr.Port()) }

// deliver runs one delivery with a bounded context.
func deliver(t *testing.T, c *Client, msg message, rs []*envelope.Recipient) []queue.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.deliver(ctx, msg, rs)
}

// checkGoroutines fails the test when goroutines started during it are
// still running at its end (after every other cleanup), waiting a
// bounded time for them to wind down.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var n int
		for i := 0; i < 500; i++ {
			if n = runtime.NumGoroutine(); n <= before {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines at start, %d at end:\n%s", before, n, buf)
	})
}

// wantResult checks the parts of a result a test cares about: status,
// DSN, a fragment of the text, and the relay when want has one.
func wantResult(t *testing.T, i int, got queue.Result, status queue.Status, dsn, text, relay string) {
	t.Helper()
	if got.Status != status || got.DSN != dsn || !strings.Contains(got.Text, text) || relay != "" && got.Relay != relay {
		t.Errorf("result %d = %+v, want status %v dsn %s text containing %q relay %q", i, got, status, dsn, text, relay)
	}
}
