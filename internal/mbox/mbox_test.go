package mbox

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

type msg struct {
	Sender  string
	Date    time.Time
	Flags   []string
	Content string
}

// readAll reads every message of an mbox, reading contents in small
// pieces when oneByte is set.
func readAll(t testing.TB, in string, oneByte bool) ([]msg, error) {
	r := NewReader(strings.NewReader(in))
	var out []msg
	for range 1000 {
		m, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var src io.Reader = m
		if oneByte {
			src = iotest.OneByteReader(m)
		}
		b, err := io.ReadAll(src)
		if err != nil {
			return out, err
		}
		out = append(out, msg{m.Sender, m.Date, m.Flags, string(b)})
	}
	t.Fatal("more than 1000 messages")
	return nil, nil
}

func local(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.Local)
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []msg
	}{
		{"two messages", "From a@example.org Sat Jan  3 01:05:34 1996\nSubject: one\n\nbody\n\nFrom b@example.org Sun Jan  4 01:05:34 1996\nSubject: two\n\nsecond\n",
			[]msg{
				{"a@example.org", local(1996, 1, 3, 1, 5, 34), nil, "Subject: one\r\n\r\nbody\r\n"},
				{"b@example.org", local(1996, 1, 4, 1, 5, 34), nil, "Subject: two\r\n\r\nsecond\r\n"},
			}},
		{"mboxrd quoting and From in the body", "From x Mon Jan  1 00:00:00 2024\n\n>From here\n>>From there\n>Fromage\nFrom not a separator\n\n",
			[]msg{{"x", local(2024, 1, 1, 0, 0, 0), nil, "\r\nFrom here\r\n>From there\r\n>Fromage\r\nFrom not a separator\r\n"}}},
		{"empty lines kept, the one before From dropped", "From x Mon Jan  1 00:00:00 2024\nA: b\n\n\n\nFrom y Mon Jan  1 00:00:00 2024\n\n",
			[]msg{
				{"x", local(2024, 1, 1, 0, 0, 0), nil, "A: b\r\n\r\n\r\n"},
				{"y", local(2024, 1, 1, 0, 0, 0), nil, ""}, // the last empty line ends the file
			}},
		{"flags and hidden fields", "From x Mon Jan  1 00:00:00 2024\nSubject: s\nStatus: RO\nX-Status: AFDT\nX-Keywords: Junk, $label1\n work\nContent-Length: 999\nX-UID: 4\nX-Keywords-Not: k\n\nb\n",
			[]msg{{"x", local(2024, 1, 1, 0, 0, 0), []string{"$label1", "Junk", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`, "work"},
				"Subject: s\r\nX-Keywords-Not: k\r\n\r\nb\r\n"}}},
		{"CRLF kept, no final newline", "From x Mon Jan  1 00:00:00 2024\r\nA: b\r\n\r\nbody\r\nend",
			[]msg{{"x", local(2024, 1, 1, 0, 0, 0), nil, "A: b\r\n\r\nbody\r\nend"}}},
		{"header only", "From x Mon Jan  1 00:00:00 2024\nStatus: R\nA: b\n\nFrom y Mon Jan  1 00:00:00 2024\nB: c",
			[]msg{
				{"x", local(2024, 1, 1, 0, 0, 0), []string{`\Seen`}, "A: b\r\n"},
				{"y", local(2024, 1, 1, 0, 0, 0), nil, "B: c"},
			}},
		{"dates with zones and bad dates", "From a Mon Jan  1 00:00:00 2024 +0200\n\nFrom MAILER-DAEMON Mon Jan  1 00:00:00 UTC 2024\n\nFrom b nonsense\n\nFrom \n\nFrom\n",
			[]msg{
				{"a", time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 7200)), nil, ""},
				{"MAILER-DAEMON", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), nil, ""},
				{"b", time.Time{}, nil, ""},
				{"", time.Time{}, nil, "\r\nFrom\r\n"}, // no space: no From_ line

			}},
		{"leading empty lines", "\n\nFrom a Mon Jan  1 00:00:00 2024\nX: 8-bit \xe9\x00\xff\n",
			[]msg{{"a", local(2024, 1, 1, 0, 0, 0), nil, "X: 8-bit \xe9\x00\xff\r\n"}}},
		{"empty file", "", nil},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			got, err := readAll(t, tt.in, oneByte)
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			opt := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
			if diff := cmp.Diff(tt.want, got, opt); diff != "" {
				t.Errorf("%s (one byte %v) (-want +got):\n%s", tt.name, oneByte, diff)
			}
		}
	}
}

func TestNotMbox(t *testing.T) {
	for _, in := range []string{"Subject: hi\n\nbody\n", "\nnope", ">From x\n"} {
		if _, err := readAll(t, in, false); !errors.Is(err, ErrNotMbox) {
			t.Errorf("readAll(%q) = %v, want ErrNotMbox", in, err)
		}
	}
}

// Long lines pass in pieces: quoting is undone only at a line's start,
// and a CRLF split between two pieces stays one CRLF.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("y", lineBuf-1) // with its CR, fills the buffer
	body := long + "\r\n>From " + strings.Repeat("z", 3*lineBuf) + ">From \n"
	in := "From x Mon Jan  1 00:00:00 2024\nA: b\n\n" + body
	got, err := readAll(t, in, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "A: b\r\n\r\n" + long + "\r\nFrom " + strings.Repeat("z", 3*lineBuf) + ">From \r\n"
	if len(got) != 1 || got[0].Content != want {
		t.Errorf("long lines: %d messages, content of %d bytes, want %d", len(got), len(got[0].Content), len(want))
	}
}

// Next skips what was not read of the message before.
func TestSkipUnread(t *testing.T) {
	in := "From a Mon Jan  1 00:00:00 2024\nA: 1\n\n" + strings.Repeat("line\n", 50000) + "\nFrom b Mon Jan  1 00:00:00 2024\nB: 2\n"
	r := NewReader(strings.NewReader(in))
	first, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Next()
	if err != nil || second.Sender != "b" {
		t.Fatalf("second message: %v, %v", second, err)
	}
	if n, err := first.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("reading a message after Next: %d, %v", n, err)
	}
	if b, _ := io.ReadAll(second); string(b) != "B: 2\r\n" {
		t.Errorf("second message content %q", b)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last message: %v", err)
	}
}

// The reader never holds the whole file: a message of 64 MiB read
// through a counting reader keeps memory bounded by the buffer.
func TestStreaming(t *testing.T) {
	const size = 16 << 20
	head := "From a Mon Jan  1 00:00:00 2024\nA: 1\n\n"
	src := io.MultiReader(strings.NewReader(head), io.LimitReader(lines{}, size))
	r := NewReader(src)
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	var cw countWriter
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := io.CopyBuffer(&cw, m, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("%d bytes allocated to read %d", alloc, size)
	}
	if want := int64(len("A: 1\r\n\r\n")) + size/4*5; cw.n != want {
		t.Errorf("content of %d bytes, want %d", cw.n, want)
	}
}

// lines is an endless "abc\n".
type lines struct{}

func (lines) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "abc\n"[i%4]
	}
	return len(p) / 4 * 4, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("From a Mon Jan  1 00:00:00 2024\nStatus: RO\nX-Keywords: a b\n\n>From x\n\nFrom b Sat Jan  3 01:05:34 1996\r\nA: b\r\n\r\nc"))
	f.Add([]byte("From \n\n\n\nFrom \nFrom \n\nFrom "))
	f.Add([]byte("From x\nA: b\n c\nStatus: R\n\t more\nX-Status: F\n"))
	f.Add([]byte("From x\r\n\r\r\n\n\r\n>>>From \n\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		total := 0
		for n := 0; ; n++ {
			if n > len(in) {
				t.Fatalf("%d messages from %d bytes", n, len(in))
			}
			m, err := r.Next()
			if err != nil {
				break
			}
			b, err := io.ReadAll(m)
			if err != nil {
				t.Fatal(err)
			}
			total += len(b)
			// Every LF has its CR.
			for i, c := range b {
				if c == '\n' && (i == 0 || b[i-1] != '\r') {
					t.Fatalf("bare LF at %d in %q", i, b)
				}
			}
			for _, fl := range m.Flags {
				if !isKeyword(fl) && !strings.HasPrefix(fl, `\`) {
					t.Fatalf("flag %q", fl)
				}
			}
		}
		if total > 2*len(in) {
			t.Fatalf("%d bytes of content from %d bytes", total, len(in))
		}
	})
}
