package inspect

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// analyzeFile analyses a file of testdata.
func analyzeFile(t *testing.T, name string, opt Options) *Report {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Analyze(bytes.NewReader(data), opt)
	if err != nil {
		t.Fatalf("Analyze(%s): %v", name, err)
	}
	return r
}

func analyzeString(t *testing.T, msg string, opt Options) *Report {
	t.Helper()
	r, err := Analyze(strings.NewReader(msg), opt)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return r
}

// findProblem returns the problem at where ("" for anywhere) whose rule
// and text contain rule and text.
func findProblem(r *Report, where, rule, text string) (Problem, bool) {
	for _, p := range r.Problems {
		if (where == "" || p.Where == where) && strings.Contains(p.Rule, rule) && strings.Contains(p.Text, text) {
			return p, true
		}
	}
	return Problem{}, false
}

func wantProblem(t *testing.T, r *Report, where, rule, text string) {
	t.Helper()
	if _, ok := findProblem(r, where, rule, text); !ok {
		t.Errorf("no problem at %q with rule %q and text %q; problems:\n%s", where, rule, text, problemList(r))
	}
}

func wantNoProblems(t *testing.T, r *Report) {
	t.Helper()
	if len(r.Problems) > 0 {
		t.Errorf("unexpected problems:\n%s", problemList(r))
	}
}

func problemList(r *Report) string {
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// partByID finds a part anywhere in the message.
func partByID(m *Message, id string) *Part {
	var find func(p *Part) *Part
	find = func(p *Part) *Part {
		if p == nil {
			return nil
		}
		if p.ID == id {
			return p
		}
		if p.Message != nil {
			if q := find(p.Message.Body); q != nil {
				return q
			}
		}
		for _, c := range p.Parts {
			if q := find(c); q != nil {
				return q
			}
		}
		return nil
	}
	return find(m.Body)
}

func mustPart(t *testing.T, r *Report, id string) *Part {
	t.Helper()
	p := partByID(r.Message, id)
	if p == nil {
		t.Fatalf("no part %s", id)
	}
	return p
}

// memExtractor keeps extracted attachments in memory.
type memExtractor struct {
	mu    sync.Mutex
	files map[string]*bytes.Buffer
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (x *memExtractor) Create(p *Part) (string, io.WriteCloser, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.files == nil {
		x.files = map[string]*bytes.Buffer{}
	}
	b := &bytes.Buffer{}
	x.files[p.ID] = b
	return "mem:" + p.ID, nopCloser{b}, nil
}

// bigMessage returns a generated message of about size octets: a text
// part, then n base64 attachments sharing the rest. It is generated as it
// is read, so that it takes no memory of its own.
func bigMessage(size int64, n int) io.Reader {
	head := "From: a@example.org\r\nTo: b@example.org\r\nDate: Tue, 04 Jun 2024 10:00:00 +0200\r\n" +
		"Message-ID: <big@example.org>\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n" +
		"--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTen attachments follow.\r\n"
	readers := []io.Reader{strings.NewReader(head)}
	line := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("0123456789", 6)[:57])) + "\r\n"
	per := (size - int64(len(head))) / int64(n) / int64(len(line))
	for i := range n {
		readers = append(readers, strings.NewReader(fmt.Sprintf(
			"--BIG\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"+
				"Content-Disposition: attachment; filename=\"file%d.bin\"\r\n\r\n", i)),
			&repeatReader{s: line, n: per})
	}
	readers = append(readers, strings.NewReader("--BIG--\r\n"))
	return io.MultiReader(readers...)
}

// repeatReader reads s n times.
type repeatReader struct {
	s   string
	n   int64
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p, r.s[r.off:])
		p, total, r.off = p[c:], total+c, r.off+c
		if r.off == len(r.s) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}
