package maillog

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the handler's timer goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLineLayout(t *testing.T) {
	var out syncBuffer
	h := NewHandler(&out, "mail.example", slog.LevelInfo)
	log := New(slog.New(h))
	log.Service("qmgr").Event("1K19AD6E72J001Q", "from=<%s>, size=%d, nrcpt=%d (queue active)", "a@b", 512, 1)
	log.Service("smtpd").Event("", "connect from %s", "localhost[127.0.0.1]")
	log.Service("local").Warn("cannot open %s", "/x")
	slog.New(h).Debug("dropped below the level")
	if err := h.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`^\w{3} [ \d]\d \d\d:\d\d:\d\d\.\d{6} mail\.example facteur/qmgr\[\d+\]: 1K19AD6E72J001Q: from=<a@b>, size=512, nrcpt=1 \(queue active\)$`,
		`^.* mail\.example facteur/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]$`,
		`^.* mail\.example facteur/local\[\d+\]: warning: cannot open /x$`,
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want match for %s", i, lines[i], re)
		}
	}
}

// TestBufferedLinesReachTheWriter: without Flush, a line is written
// within flushDelay; until then it may wait in the buffer.
func TestBufferedLinesReachTheWriter(t *testing.T) {
	var out syncBuffer
	h := NewHandler(&out, "mail.example", slog.LevelInfo)
	New(slog.New(h)).Event("ID", "late line")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "ID: late line") {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line never reached the writer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAttrsAfterMessage(t *testing.T) {
	var out syncBuffer
	h := NewHandler(&out, "h", slog.LevelDebug)
	slog.New(h).With("component", "x").Debug("detail", "n", 3)
	h.Flush()
	if got := out.String(); !strings.Contains(got, "facteur[") || !strings.HasSuffix(got, "detail component=x n=3\n") {
		t.Errorf("got %q", got)
	}
}
