package maildir

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrNotMaildir is returned by Open for a directory that holds neither a
// Maildir nor Maildir++ folders.
var ErrNotMaildir = errors.New("not a Maildir: no cur/ or new/ and no folders")

// Maildir is a Maildir++ tree opened for reading. Every access stays
// beneath its root directory: a symbolic link leading out of it is
// refused (os.Root), so a tree owned by someone else cannot make the
// reader open files elsewhere.
type Maildir struct {
	root *os.Root
}

// Folder is one mailbox of a tree.
type Folder struct {
	Name string // the mailbox name: "INBOX", "Sent", "Foo/Bar"
	Dir  string // its directory, relative to the root: "." for INBOX
}

// Message is one message file.
type Message struct {
	Path  string    // relative to the root: ".Sent/cur/1700000000.1_1.host:2,S"
	Flags []string  // IMAP flags, sorted
	Date  time.Time // internal date: the file's modification time
	Size  int64     // size of the file (not of its wire form)
}

// Problem is a folder or file that was skipped, and why.
type Problem struct {
	Path string
	Err  error
}

func (p Problem) Error() string { return p.Path + ": " + p.Err.Error() }

// Open opens the Maildir++ tree at dir for reading.
func Open(dir string) (*Maildir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening Maildir: %w", err)
	}
	return &Maildir{root: root}, nil
}

// Close releases the tree's directory.
func (m *Maildir) Close() error { return m.root.Close() }

// display is the path of rel for messages.
func (m *Maildir) display(rel string) string { return filepath.Join(m.root.Name(), rel) }

// Folders lists the tree's folders: the root as INBOX when it has cur/ or
// new/, then each directory ".Name" holding cur/ or new/, sorted by
// directory name. A directory whose name does not map to a mailbox name,
// or that is no Maildir, is a problem, not an error. Other dot files
// (Courier's .subscriptions, say) are skipped silently.
func (m *Maildir) Folders() ([]Folder, []Problem, error) {
	entries, err := m.readDir(".")
	if err != nil {
		return nil, nil, err
	}
	var folders []Folder
	var problems []Problem
	if m.isMaildir(".") {
		folders = append(folders, Folder{Name: "INBOX", Dir: "."})
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || n == "." || n == ".." {
			continue
		}
		fi, err := m.root.Stat(n)
		if err != nil {
			problems = append(problems, Problem{m.display(n), err})
			continue
		}
		if !fi.IsDir() {
			continue
		}
		if !m.isMaildir(n) {
			problems = append(problems, Problem{m.display(n), errors.New("no cur/ or new/: not a Maildir folder")})
			continue
		}
		name, err := FolderName(n)
		if err != nil {
			problems = append(problems, Problem{m.display(n), err})
			continue
		}
		folders = append(folders, Folder{Name: name, Dir: n})
	}
	if len(folders) == 0 && len(problems) == 0 {
		return nil, nil, fmt.Errorf("%s: %w", m.root.Name(), ErrNotMaildir)
	}
	return folders, problems, nil
}

// isMaildir reports whether dir has a cur/ or new/ directory.
func (m *Maildir) isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := m.root.Stat(path.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func (m *Maildir) readDir(dir string) ([]fs.DirEntry, error) {
	d, err := m.root.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", m.display(dir), err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.display(dir), err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// Messages lists the messages of a folder's cur/ and new/ in delivery
// order: by file name, with digit runs compared as numbers, since the
// names Maildir writers make start with the delivery time and end in a
// counter (Writer's follow the order of its Add calls). Dot files and
// tmp/ are skipped; an entry that is no regular file is a problem.
func (m *Maildir) Messages(f Folder) ([]Message, []Problem, error) {
	var problems []Problem
	var keywords []string
	switch data, err := m.root.ReadFile(path.Join(f.Dir, keywordsFile)); {
	case err == nil:
		keywords = parseKeywords(data)
	case !errors.Is(err, fs.ErrNotExist):
		problems = append(problems, Problem{m.display(path.Join(f.Dir, keywordsFile)), err})
	}
	var msgs []Message
	for _, sub := range []string{"cur", "new"} {
		dir := path.Join(f.Dir, sub)
		entries, err := m.readDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, problems, err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := path.Join(dir, e.Name())
			fi, err := m.root.Stat(p)
			if err == nil && !fi.Mode().IsRegular() {
				err = errors.New("not a regular file")
			}
			if err != nil {
				problems = append(problems, Problem{m.display(p), err})
				continue
			}
			msgs = append(msgs, Message{Path: p, Flags: parseInfo(e.Name(), keywords),
				Date: fi.ModTime(), Size: fi.Size()})
		}
	}
	slices.SortFunc(msgs, func(a, b Message) int {
		return cmp.Or(naturalCompare(path.Base(a.Path), path.Base(b.Path)), strings.Compare(a.Path, b.Path))
	})
	return msgs, problems, nil
}

// naturalCompare orders strings with runs of digits compared as numbers,
// so that "1.p_9.h" comes before "1.p_10.h".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// Open returns a message's content in wire form (see WireReader). The
// file is opened without blocking, so that a FIFO put in the tree cannot
// hang the reader, and refused unless it is a regular file.
func (m *Maildir) Open(msg Message) (io.ReadCloser, error) {
	f, err := m.root.OpenFile(msg.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening message: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", m.display(msg.Path))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening message: %w", err)
	}
	return WireReader(f), nil
}

// WireReader returns rc's content with CRLF line ends, the form a message
// has on the wire (RFC 5322 §2.1) and in the store. A message whose first
// line ends in CRLF is given byte for byte, bare LF and all (binary
// content stays as it was); in any other message, as Dovecot and mutt
// store them, each bare LF becomes CRLF. Closing it closes rc.
func WireReader(rc io.ReadCloser) io.ReadCloser {
	return &wireReader{br: bufio.NewReaderSize(rc, 64<<10), c: rc}
}

type wireReader struct {
	br      *bufio.Reader
	c       io.Closer
	decided bool
	convert bool
	prev    byte // the last byte read from br
	lf      bool // a LF is owed after the CR put before a bare LF
}

func (r *wireReader) Close() error { return r.c.Close() }

func (r *wireReader) Read(p []byte) (int, error) {
	if !r.decided {
		r.decided = true
		b, _ := r.br.Peek(r.br.Size())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			r.convert = i == 0 || b[i-1] != '\r'
		}
	}
	if !r.convert {
		return r.br.Read(p)
	}
	n := 0
	for n < len(p) {
		if r.lf {
			p[n], r.lf = '\n', false
			n++
			continue
		}
		c, err := r.br.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '\n' && r.prev != '\r' {
			p[n], r.lf, r.prev = '\r', true, '\n'
			n++
			continue
		}
		p[n], r.prev = c, c
		n++
	}
	return n, nil
}
