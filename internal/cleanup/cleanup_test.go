package cleanup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/smtp"
)

// fakeQueue hands out fakeFiles that keep what is written to them.
type fakeQueue struct {
	files   []*fakeFile
	discard bool // count bytes only (streaming tests)
}

func (q *fakeQueue) Create(_ context.Context, env *envelope.Envelope) (QueueFile, error) {
	f := &fakeFile{id: "4A5B6C7D8E", discard: q.discard}
	q.files = append(q.files, f)
	return f, nil
}

type fakeFile struct {
	id                 string
	discard            bool
	buf                bytes.Buffer
	n                  int64
	writes             int
	maxWrite           int
	committed, aborted bool
	failWrite          error
}

func (f *fakeFile) ID() string { return f.id }
func (f *fakeFile) Write(p []byte) (int, error) {
	if f.failWrite != nil {
		return 0, f.failWrite
	}
	f.writes++
	f.maxWrite = max(f.maxWrite, len(p))
	f.n += int64(len(p))
	if !f.discard {
		f.buf.Write(p)
	}
	return len(p), nil
}
func (f *fakeFile) Commit(context.Context) error { f.committed = true; return nil }
func (f *fakeFile) Abort()                       { f.aborted = true }

var testNow = time.Date(2026, 11, 27, 23, 14, 58, 0, time.UTC)

const testReceived = "Received: from client.example (client.example [192.0.2.1])\r\n" +
	"\tby mx.example.org (facteur) with ESMTP id 4A5B6C7D8E\r\n" +
	"\tfor <bob@example.org>; Fri, 27 Nov 2026 23:14:58 +0000 (UTC)\r\n"

func testEnv(local bool) *envelope.Envelope {
	return &envelope.Envelope{Sender: "alice@example.com", Recipients: rcpts("bob@example.org"),
		Client: envelope.Client{Helo: "client.example", Name: "client.example",
			Addr: netip.MustParseAddr("192.0.2.1"), Protocol: "ESMTP", Local: local}}
}

func newTestCleanup(q Queue, hops int, log *bytes.Buffer) *Cleanup {
	var l *slog.Logger
	if log != nil {
		l = slog.New(slog.NewTextHandler(log, nil))
	}
	return New(q, Options{Hostname: "mx.example.org", HopLimit: hops,
		Now: func() time.Time { return testNow }, Log: maillog.New(l)})
}

// runMessage passes msg through cleanup in chunks of size chunk.
func runMessage(t *testing.T, c *Cleanup, env *envelope.Envelope, msg string, chunk int) error {
	t.Helper()
	m, err := c.Begin(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for len(msg) > 0 {
		n := min(chunk, len(msg))
		if _, err := m.Write([]byte(msg[:n])); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return m.Commit(context.Background())
}

var randomID = regexp.MustCompile(`<4A5B6C7D8E\.[0-9a-f]{12}@mx\.example\.org>`)

func TestCleanupMessage(t *testing.T) {
	const date = "Date: Fri, 27 Nov 2026 23:14:58 +0000 (UTC)\r\n"
	const msgID = "Message-ID: <4A5B6C7D8E.RANDOM@mx.example.org>\r\n"
	tests := []struct {
		name  string
		local bool
		in    string
		want  string // after testReceived, random part of Message-ID as RANDOM
		logID string
	}{
		{"remote keeps header", false, "Subject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n\r\nbody\r\n", "message-id=<>"},
		{"local adds both", true, "Subject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n" + msgID + date + "\r\nbody\r\n", "message-id=<4A5B6C7D8E."},
		{"local has both, any case", true, "message-id: <a@b>\r\nDATE: x\r\n\r\nbody\r\n",
			"message-id: <a@b>\r\nDATE: x\r\n\r\nbody\r\n", "message-id=<a@b>"},
		{"local has id only", true, "Message-Id: <a@b>\r\n\r\nbody\r\n", "Message-Id: <a@b>\r\n" + date + "\r\nbody\r\n", "message-id=<a@b>"},
		{"header only", true, "Subject: hi\r\n", "Subject: hi\r\n" + msgID + date, ""},
		{"header only without CRLF", false, "Subject: hi", "Subject: hi\r\n", ""},
		{"no header: all body", true, "hello\r\nSubject: no\r\n", msgID + date + "\r\nhello\r\nSubject: no\r\n", ""},
		{"body after non-field line", false, "Subject: hi\r\nhello\r\n", "Subject: hi\r\n\r\nhello\r\n", ""},
		{"empty message", false, "", "", ""},
		{"body From line untouched", false, "A: b\r\n\r\nFrom me\r\n.\r\n", "A: b\r\n\r\nFrom me\r\n.\r\n", ""},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 7, 1 << 20} {
			q := &fakeQueue{}
			var log bytes.Buffer
			c := newTestCleanup(q, 0, &log)
			env := testEnv(tt.local)
			if err := runMessage(t, c, env, tt.in, chunk); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			f := q.files[0]
			got := randomID.ReplaceAllString(f.buf.String(), "<4A5B6C7D8E.RANDOM@mx.example.org>")
			if want := testReceived + tt.want; got != want {
				t.Errorf("%s (chunk %d):\ngot  %q\nwant %q", tt.name, chunk, got, want)
			}
			if !f.committed || f.aborted {
				t.Errorf("%s: committed %v aborted %v", tt.name, f.committed, f.aborted)
			}
			if env.Size != int64(f.buf.Len()) {
				t.Errorf("%s: env.Size = %d, queued %d bytes", tt.name, env.Size, f.buf.Len())
			}
			if !strings.Contains(log.String(), "4A5B6C7D8E: "+tt.logID) {
				t.Errorf("%s: log %q lacks %q", tt.name, log.String(), tt.logID)
			}
		}
	}
}

func TestHopLimit(t *testing.T) {
	hops := func(n int) string {
		return strings.Repeat("Received: from a\r\n\tby b; Fri, 27 Nov 2026 23:14:58 +0000\r\n", n)
	}
	tests := []struct {
		name    string
		limit   int
		msg     string
		refused bool
	}{
		{"under", 3, hops(2) + "\r\nbody\r\n", false},
		{"at the limit", 3, hops(3) + "\r\nbody\r\n", false},
		{"over", 3, hops(4) + "\r\nbody\r\n", true},
		{"over, header only", 3, hops(4), true},
		{"lower case", 1, "received: x\r\nRECEIVED: y\r\n\r\n", true},
		{"in the body does not count", 1, "Subject: x\r\n\r\n" + hops(5), false},
		{"default limit 50", 0, hops(51) + "\r\n", true},
		{"default limit not reached", 0, hops(50) + "\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{}
			c := newTestCleanup(q, tt.limit, nil)
			err := runMessage(t, c, testEnv(false), tt.msg+strings.Repeat("more body\r\n", 100), 16)
			f := q.files[0]
			if !tt.refused {
				if err != nil || !f.committed {
					t.Fatalf("err = %v, committed %v; want accepted", err, f.committed)
				}
				return
			}
			var r *smtp.Reply
			if !errors.As(err, &r) || r.Code != 554 || r.Enhanced != "5.4.6" || r.Lines[0] != "Error: too many hops" {
				t.Fatalf("err = %v, want 554 5.4.6 Error: too many hops", err)
			}
			if !f.aborted || f.committed {
				t.Errorf("queue file aborted %v committed %v, want aborted only", f.aborted, f.committed)
			}
		})
	}
}

// countingReader produces a message of n body bytes without holding it.
func TestStreamingLargeBody(t *testing.T) {
	q := &fakeQueue{discard: true}
	c := newTestCleanup(q, 0, nil)
	env := testEnv(false)
	m, err := c.Begin(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	header := "Subject: big\r\n\r\n"
	if _, err := m.Write([]byte(header)); err != nil {
		t.Fatal(err)
	}
	f := q.files[0]
	if f.writes == 0 {
		t.Fatal("header complete but nothing passed to the queue file")
	}
	chunk := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 1000)
	const total = 8 << 20
	var sent int64
	for sent < total {
		n, err := m.Write(chunk)
		if err != nil {
			t.Fatal(err)
		}
		sent += int64(n)
		if m.head != nil {
			t.Fatal("body buffered in cleanup")
		}
	}
	if err := m.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := int64(len(testReceived)+len(header)) + sent
	if f.n != want || env.Size != want {
		t.Errorf("queued %d bytes, env.Size %d, want %d", f.n, env.Size, want)
	}
	if f.maxWrite > len(chunk) {
		t.Errorf("largest write %d bytes, want at most one chunk (%d)", f.maxWrite, len(chunk))
	}
}

func TestHeaderBound(t *testing.T) {
	// A header that never ends is held only up to the bound.
	q := &fakeQueue{}
	c := newTestCleanup(q, 0, nil)
	m, err := c.Begin(context.Background(), testEnv(false))
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("X-Field: " + strings.Repeat("v", 60) + "\r\n")
	for i := 0; i < 2*DefaultHeaderLimit/len(line); i++ {
		if _, err := m.Write(line); err != nil {
			t.Fatal(err)
		}
		if len(m.head) > DefaultHeaderLimit+len(line) {
			t.Fatalf("header buffer grew to %d bytes", len(m.head))
		}
	}
	if err := m.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := q.files[0].buf.String()
	if !strings.Contains(out, "\r\n\r\nX-Field: ") {
		t.Error("no blank line between the bounded header and the rest")
	}
}

func TestWriteError(t *testing.T) {
	q := &fakeQueue{}
	c := newTestCleanup(q, 0, nil)
	m, err := c.Begin(context.Background(), testEnv(false))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	q.files[0].failWrite = boom
	if _, err := m.Write([]byte("Subject: x\r\n\r\nbody")); !errors.Is(err, boom) {
		t.Fatalf("Write error = %v, want %v", err, boom)
	}
	if err := m.Commit(context.Background()); !errors.Is(err, boom) {
		t.Errorf("Commit error = %v, want %v", err, boom)
	}
	if !q.files[0].aborted || q.files[0].committed {
		t.Error("queue file not aborted after a write error")
	}
}

func TestAbort(t *testing.T) {
	q := &fakeQueue{}
	c := newTestCleanup(q, 0, nil)
	m, err := c.Begin(context.Background(), testEnv(false))
	if err != nil {
		t.Fatal(err)
	}
	m.Write([]byte("Subject: x\r\n"))
	m.Abort()
	m.Abort()
	if err := m.Commit(context.Background()); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if f := q.files[0]; !f.aborted || f.committed {
		t.Errorf("aborted %v committed %v", f.aborted, f.committed)
	}
}

func BenchmarkCleanup(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 14000)
	header := []byte("From: a@example.com\r\nTo: b@example.org\r\nSubject: bench\r\n\r\n")
	q := &fakeQueue{discard: true}
	c := New(q, Options{Hostname: "mx.example.org"})
	b.SetBytes(int64(len(header) + len(body)))
	for b.Loop() {
		q.files = q.files[:0]
		m, err := c.Begin(context.Background(), testEnv(true))
		if err != nil {
			b.Fatal(err)
		}
		m.Write(header)
		for p := body; len(p) > 0; p = p[min(len(p), 32<<10):] {
			m.Write(p[:min(len(p), 32<<10)])
		}
		if err := m.Commit(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
