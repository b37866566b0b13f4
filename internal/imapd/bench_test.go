package imapd

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// benchEnv is a server with n messages in toto's INBOX, appended by a few
// writers at once so that the store commits them in groups.
func benchEnv(b *testing.B, n int) *env {
	e := newEnv(b, Config{})
	var wg sync.WaitGroup
	const writers = 8
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				e.add(b, "toto", "INBOX", msg(fmt.Sprint("subject ", i), "body of the message\r\n"))
			}
		})
	}
	wg.Wait()
	return e
}

func benchClient(b *testing.B, e *env) *client {
	t := &testing.T{}
	c := dialAddr(t, e.addr)
	c.login()
	b.Cleanup(func() { c.conn.Close() })
	return c
}

func BenchmarkSelect10k(b *testing.B) {
	e := benchEnv(b, 10000)
	c := benchClient(b, e)
	for b.Loop() {
		if r := c.cmd("SELECT INBOX"); !strings.HasPrefix(r[len(r)-1], "a OK") {
			b.Fatal(r)
		}
	}
}

func BenchmarkFetchAll10k(b *testing.B) {
	e := benchEnv(b, 10000)
	c := benchClient(b, e)
	c.cmd("SELECT INBOX")
	for b.Loop() {
		if r := c.cmd("FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)"); len(r) != 10001 {
			b.Fatal(len(r))
		}
	}
}

func BenchmarkSearchHeader10k(b *testing.B) {
	e := benchEnv(b, 10000)
	c := benchClient(b, e)
	c.cmd("SELECT INBOX")
	for b.Loop() {
		// One message has it; concurrent appends gave it any UID.
		if r := c.cmd("UID SEARCH HEADER Subject 9999"); len(strings.Fields(r[0])) != 3 {
			b.Fatal(r[0])
		}
	}
}

// BenchmarkIdle1000 reports the memory of 1,000 sessions in IDLE on
// their INBOX: heap and goroutine stacks, server and client sides (the
// clients are small).
func BenchmarkIdle1000(b *testing.B) {
	const n = 1000
	e := newEnv(b, Config{})
	e.add(b, "toto", "INBOX", msg("one", "x"))
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clients := make([]*client, n)
		for i := range clients {
			c := benchClient(b, e)
			c.cmd("SELECT INBOX")
			c.send("i IDLE\r\n")
			if l := c.line(); !strings.HasPrefix(l, "+ ") {
				b.Fatal(l)
			}
			clients[i] = c
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/n, "bytes/conn")
		for _, c := range clients {
			c.conn.Close()
		}
	}
}
