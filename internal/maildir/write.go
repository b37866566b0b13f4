package maildir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"facteur/internal/safeio"
)

// Writer writes a Maildir++ tree. Each message is written in tmp/,
// synced, and renamed into cur/, as the Maildir specification asks; a
// FolderWriter's Close syncs cur/, so a folder's messages are durable
// once it returns nil. All writes stay beneath the root directory.
type Writer struct {
	root *os.Root
	host string
	pid  int
	seq  int
	now  func() time.Time
}

// Create opens dir for writing as a Maildir++ root, creating it and
// INBOX's cur/, new/ and tmp/ when missing.
func Create(dir string) (*Writer, error) {
	if err := safeio.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating Maildir: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening Maildir: %w", err)
	}
	host, _ := os.Hostname()
	w := &Writer{root: root, host: hostPart(host), pid: os.Getpid(), now: time.Now}
	if err := w.makeFolder("."); err != nil {
		root.Close()
		return nil, err
	}
	return w, nil
}

// Close releases the root directory.
func (w *Writer) Close() error { return w.root.Close() }

// hostPart is the host name as a unique name carries it: the Maildir
// specification replaces "/" with "\057" and ":" with "\072"; ",", which
// starts the ",S=" size field, "\" and blanks are escaped the same way.
func hostPart(h string) string {
	if h == "" {
		h = "localhost"
	}
	var b strings.Builder
	for _, c := range []byte(h) {
		if c == '/' || c == ':' || c == ',' || c == '\\' || c <= ' ' || c >= 0x7f {
			fmt.Fprintf(&b, `\%03o`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// makeFolder creates dir with cur/, new/ and tmp/, and Maildir++'s
// maildirfolder marker for a folder other than the root, durably.
func (w *Writer) makeFolder(dir string) error {
	for _, d := range []string{dir, path.Join(dir, "cur"), path.Join(dir, "new"), path.Join(dir, "tmp")} {
		if err := w.root.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating folder: %w", err)
		}
	}
	if dir != "." {
		f, err := w.root.OpenFile(path.Join(dir, "maildirfolder"), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("creating folder: %w", err)
		}
		f.Close()
	}
	for _, d := range []string{".", dir} {
		if err := safeio.SyncDir(w.path(d)); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) path(rel string) string { return filepath.Join(w.root.Name(), rel) }

// FolderWriter adds messages to one folder of a Writer. It is used by one
// goroutine.
type FolderWriter struct {
	w        *Writer
	dir      string   // relative to the root: "." for INBOX
	keywords []string // letter a is keywords[0]
	added    bool     // cur/ has new entries to sync
}

// Folder opens the folder of a mailbox for writing, creating it when
// missing (see FolderDir for the names). Keywords already named in its
// dovecot-keywords file keep their letters.
func (w *Writer) Folder(name string) (*FolderWriter, error) {
	dir, err := FolderDir(name)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = "."
	}
	if err := w.makeFolder(dir); err != nil {
		return nil, err
	}
	fw := &FolderWriter{w: w, dir: dir}
	switch data, err := w.root.ReadFile(path.Join(dir, keywordsFile)); {
	case err == nil:
		fw.keywords = parseKeywords(data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading keywords: %w", err)
	}
	return fw, nil
}

// Add writes a message with its flags and internal date (the file's
// modification time; the zero time leaves it now). The content is
// written as given. It returns the keywords it could not record: those
// past the 26 letters a folder has, and names that are not IMAP keywords.
func (f *FolderWriter) Add(r io.Reader, flags []string, date time.Time) (dropped []string, err error) {
	info, dropped, err := f.info(flags)
	if err != nil {
		return dropped, err
	}
	fh, tmp, base, err := f.createTemp()
	if err != nil {
		return dropped, err
	}
	ok := false
	defer func() {
		if !ok {
			f.w.root.Remove(tmp)
		}
	}()
	size, err := f.fill(fh, tmp, r, date)
	if err != nil {
		return dropped, err
	}
	name := path.Join(f.dir, "cur", base+",S="+strconv.FormatInt(size, 10)+":2,"+info)
	if _, err := f.w.root.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		return dropped, fmt.Errorf("%s: exists already", f.w.path(name))
	}
	if err := f.w.root.Rename(tmp, name); err != nil {
		return dropped, fmt.Errorf("moving message into cur/: %w", err)
	}
	ok, f.added = true, true
	return dropped, nil
}

// createTemp makes a new file in tmp/ under a unique name, time.pid_seq.host
// as mutt makes them, and returns it, its path and that name.
func (f *FolderWriter) createTemp() (*os.File, string, string, error) {
	for range 100 {
		f.w.seq++
		base := fmt.Sprintf("%d.%d_%d.%s", f.w.now().Unix(), f.w.pid, f.w.seq, f.w.host)
		tmp := path.Join(f.dir, "tmp", base)
		fh, err := f.w.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", "", fmt.Errorf("creating message file: %w", err)
		}
		return fh, tmp, base, nil
	}
	return nil, "", "", fmt.Errorf("no unique file name in %s", f.w.path(path.Join(f.dir, "tmp")))
}

// fill writes r into fh, the file tmp, sets its time, syncs and closes it.
func (f *FolderWriter) fill(fh *os.File, tmp string, r io.Reader, date time.Time) (int64, error) {
	defer fh.Close()
	size, err := io.Copy(fh, r)
	if err != nil {
		return 0, fmt.Errorf("writing message: %w", err)
	}
	if !date.IsZero() {
		if err := f.w.root.Chtimes(tmp, date, date); err != nil {
			return 0, fmt.Errorf("setting message date: %w", err)
		}
	}
	if err := fh.Sync(); err != nil {
		return 0, fmt.Errorf("syncing message: %w", err)
	}
	if err := fh.Close(); err != nil {
		return 0, fmt.Errorf("closing message: %w", err)
	}
	return size, nil
}

// info returns the letters after ":2," for flags, in ASCII order,
// recording new keywords in dovecot-keywords first.
func (f *FolderWriter) info(flags []string) (string, []string, error) {
	var b []byte
	var dropped []string
	n := len(f.keywords)
	for _, fl := range flags {
		if i := slices.IndexFunc(letters, func(l letter) bool { return strings.EqualFold(l.flag, fl) }); i >= 0 {
			b = append(b, letters[i].c)
			continue
		}
		if !isKeyword(fl) {
			dropped = append(dropped, fl)
			continue
		}
		k := slices.Index(f.keywords, fl)
		if k < 0 && len(f.keywords) < maxKeywords {
			k = len(f.keywords)
			f.keywords = append(f.keywords, fl)
		}
		if k < 0 {
			dropped = append(dropped, fl)
			continue
		}
		b = append(b, byte('a'+k))
	}
	if len(f.keywords) > n {
		// The names must be durable before a file name uses their letters.
		if err := safeio.WriteFile(f.w.path(path.Join(f.dir, keywordsFile)), formatKeywords(f.keywords), 0o600); err != nil {
			f.keywords = f.keywords[:n]
			return "", dropped, fmt.Errorf("writing keywords: %w", err)
		}
	}
	slices.Sort(b)
	return string(slices.Compact(b)), dropped, nil
}

// Close makes the folder's new entries durable.
func (f *FolderWriter) Close() error {
	if !f.added {
		return nil
	}
	f.added = false
	return safeio.SyncDir(f.w.path(path.Join(f.dir, "cur")))
}
