package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeSource writes a content file as the queue would, outside the store.
func writeSource(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "content")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// linkDeliver delivers the file at src to toto and bob with LinkFrom.
func linkDeliver(t *testing.T, s *Store, src string) error {
	t.Helper()
	d, err := s.BeginDelivery(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d.Add("toto", "", []byte("Delivered-To: toto@localhost\r\n"))
	d.Add("bob", "", []byte("Delivered-To: bob@localhost\r\n"))
	if err := d.LinkFrom(src); err != nil {
		d.Abort()
		return err
	}
	return d.Commit(context.Background())
}

func TestLinkFrom(t *testing.T) {
	big := sample + strings.Repeat("0123456789abcdef\r\n", 8000) // past maxHeaderCapture
	exdev := func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EXDEV} }
	tests := []struct {
		name   string
		body   string
		link   func(string, string) error // nil: the real os.Link
		linked bool                       // the blob must be the source's inode
	}{
		{"link", sample, nil, true},
		{"link large", big, nil, true},
		{"link long header", strings.Repeat("Received: from a.example by b.example\r\n", 200) + sample, nil, true},
		{"link empty", "", nil, true},
		{"copy when linking fails", sample, exdev, false},
		{"copy large when linking fails", big, exdev, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, "toto", "bob")
			if tt.link != nil {
				s.link = tt.link
			}
			src := writeSource(t, tt.body)
			if err := linkDeliver(t, s, src); err != nil {
				t.Fatal(err)
			}
			files := blobFiles(t, s)
			if len(files) != 1 {
				t.Fatalf("blob files %v, want one shared by both recipients", files)
			}
			checkLinked(t, src, files[0], tt.linked)
			// The queue forgets the message: its name goes, the data stay.
			if err := os.Remove(src); err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{"toto", "bob"} {
				want := "Delivered-To: " + who + "@localhost\r\n" + tt.body
				if got := readMessage(t, s, who, "", 1); got != want {
					t.Errorf("%s reads %d bytes, want %d bytes byte for byte", who, len(got), len(want))
				}
				msgs, err := s.Messages(context.Background(), who, "")
				if err != nil || len(msgs) != 1 || msgs[0].Size != int64(len(want)) {
					t.Fatalf("%s: messages %+v, %v; want one of size %d", who, msgs, err, len(want))
				}
				if wantSubj := map[bool]string{true: "hello", false: ""}[tt.body != ""]; msgs[0].Subject != wantSubj {
					t.Errorf("%s: cached Subject %q, want %q", who, msgs[0].Subject, wantSubj)
				}
			}
		})
	}
}

// checkLinked checks whether the blob is the source file itself (a hard
// link) or a copy of it.
func checkLinked(t *testing.T, src, blob string, want bool) {
	t.Helper()
	a, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(blob)
	if err != nil {
		t.Fatal(err)
	}
	if got := os.SameFile(a, b); got != want {
		t.Errorf("blob is the source's inode: %v, want %v", got, want)
	}
}

// TestLinkFromSymlink: a source named through a symbolic link is copied,
// since link(2) would link the symbolic link, not the content.
func TestLinkFromSymlink(t *testing.T) {
	s := newStore(t, "toto", "bob")
	src := writeSource(t, sample)
	sym := filepath.Join(t.TempDir(), "sym")
	if err := os.Symlink(src, sym); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := linkDeliver(t, s, sym); err != nil {
		t.Fatal(err)
	}
	files := blobFiles(t, s)
	if len(files) != 1 {
		t.Fatalf("blob files %v, want one", files)
	}
	if fi, err := os.Lstat(files[0]); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("blob is not a regular file: %v, %v", fi, err)
	}
	checkLinked(t, src, files[0], false)
	if got := readMessage(t, s, "bob", "", 1); got != "Delivered-To: bob@localhost\r\n"+sample {
		t.Errorf("bob reads %q", got)
	}
}

func TestLinkFromMisuse(t *testing.T) {
	s := newStore(t, "toto", "bob")
	ctx := context.Background()
	src := writeSource(t, sample)

	if err := linkDeliver(t, s, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LinkFrom of a missing file succeeded")
	}

	d, _ := s.BeginDelivery(ctx)
	d.Add("toto", "", nil)
	io.WriteString(d, "Subject: x\r\n")
	if err := d.LinkFrom(src); !errors.Is(err, errMixed) {
		t.Errorf("LinkFrom after Write = %v, want errMixed", err)
	}
	d.Abort()

	d, _ = s.BeginDelivery(ctx)
	d.Add("toto", "", nil)
	if err := d.LinkFrom(src); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(d, "more"); !errors.Is(err, errMixed) {
		t.Errorf("Write after LinkFrom = %v, want errMixed", err)
	}
	if err := d.LinkFrom(src); !errors.Is(err, errMixed) {
		t.Errorf("second LinkFrom = %v, want errMixed", err)
	}
	d.Abort() // removes the store's link, never the source

	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left: %v", files)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != sample {
		t.Errorf("source after Abort: %q, %v", b, err)
	}
	if n, _ := s.Count(ctx, "toto", ""); n != 0 {
		t.Errorf("toto holds %d messages after failed deliveries", n)
	}
}

// TestLinkFromMissingMailbox: a failed Commit removes the store's link
// and leaves the source alone.
func TestLinkFromMissingMailbox(t *testing.T) {
	s := newStore(t, "toto")
	src := writeSource(t, sample)
	if err := linkDeliver(t, s, src); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delivery to missing bob = %v, want ErrNotFound", err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files left: %v", files)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("source gone: %v", err)
	}
}

// TestReadHead: the header read from a linked file stops after the
// header section, yet caches the same fields as reading the whole
// maxHeaderCapture bytes, wherever the section ends.
func TestReadHead(t *testing.T) {
	body := strings.Repeat("body line\r\n", 5000)
	pad := func(n int) string { return "X-Pad: " + strings.Repeat("p", n) + "\r\n" }
	tests := []struct {
		name    string
		msg     string
		maxRead int // bound on the bytes read
	}{
		{"short header", sample + body, headChunk},
		{"end in the second read", pad(headChunk-len("X-Pad: \r\n")-2) + "Subject: s\r\n\r\n" + body, 2 * headChunk},
		{"empty line split by the read", pad(headChunk-len("X-Pad: \r\n")-1) + "\r\n" + body, 2 * headChunk},
		{"bare newlines", strings.ReplaceAll(sample, "\r\n", "\n") + body, headChunk},
		{"long header", strings.Repeat(pad(100), 200) + sample + body, maxHeaderCapture},
		{"no end", strings.Repeat(pad(100), 500), maxHeaderCapture},
		{"small file", "Subject: tiny", headChunk},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, err := readHead(strings.NewReader(tt.msg), int64(len(tt.msg)))
			if err != nil {
				t.Fatal(err)
			}
			if len(head) > tt.maxRead {
				t.Errorf("read %d bytes, want at most %d", len(head), tt.maxRead)
			}
			if !strings.HasPrefix(tt.msg, string(head)) {
				t.Error("head is not the start of the message")
			}
			full := []byte(tt.msg[:min(len(tt.msg), maxHeaderCapture)])
			if got, want := parseHeader(head), parseHeader(full); got != want {
				t.Errorf("cached fields %+v, want %+v", got, want)
			}
		})
	}
}
