package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"facteur/internal/maildir"
	"facteur/internal/mbox"
	"facteur/internal/store"
)

// mailPort moves mail between an account and Maildir or mbox files, for
// `facteur mailbox import` and `export`. What it skips (a file that is no
// message, a folder name that is no mailbox name) it reports on stderr
// and counts; the command then ends with exDataErr.
type mailPort struct {
	st      *store.Store
	account string
	stdout  io.Writer
	stderr  io.Writer
	skipped int
}

func (p *mailPort) skip(what string, err error) {
	p.skipped++
	fmt.Fprintf(p.stderr, "facteur mailbox: skipped %s: %v\n", what, err)
}

// result is the command's error once the work is done.
func (p *mailPort) result() error {
	if p.skipped == 0 {
		return nil
	}
	return &exitError{code: exDataErr, err: fmt.Errorf("%d files or folders skipped", p.skipped)}
}

// checkAccount turns a missing account into exNoUser.
func (p *mailPort) checkAccount(ctx context.Context) error {
	ok, err := p.st.UserExists(ctx, p.account)
	if err != nil {
		return err
	}
	if !ok {
		return &exitError{code: exNoUser, err: fmt.Errorf("no account %q", p.account)}
	}
	return nil
}

// importPath imports a Maildir++ tree (a directory) or an mbox file into
// mailbox (only for an mbox file; "" for INBOX).
func (p *mailPort) importPath(ctx context.Context, path, mailbox string) error {
	if err := p.checkAccount(ctx); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if mailbox == "" {
			mailbox = "INBOX"
		}
		return p.importMbox(ctx, path, mailbox)
	}
	if mailbox != "" {
		return usageErr("--mailbox is for an mbox file; a Maildir's folders name their mailboxes")
	}
	return p.importMaildir(ctx, path)
}

// ensureMailbox creates a mailbox unless it exists.
func (p *mailPort) ensureMailbox(ctx context.Context, name string) error {
	err := p.st.CreateMailbox(ctx, p.account, name)
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
}

func (p *mailPort) importMaildir(ctx context.Context, dir string) error {
	md, err := maildir.Open(dir)
	if err != nil {
		return err
	}
	defer md.Close()
	folders, problems, err := md.Folders()
	if err != nil {
		return err
	}
	for _, pr := range problems {
		p.skip(pr.Path, pr.Err)
	}
	for _, f := range folders {
		if err := p.ensureMailbox(ctx, f.Name); errors.Is(err, store.ErrInvalid) {
			p.skip(f.Dir, err)
			continue
		} else if err != nil {
			return err
		}
		msgs, problems, err := md.Messages(f)
		for _, pr := range problems {
			p.skip(pr.Path, pr.Err)
		}
		if err != nil {
			return err
		}
		n := 0
		for _, m := range msgs {
			// A Maildir file's unique name is the part before the
			// info (":2,FLAGS"), which changes with the flags.
			key, _, _ := strings.Cut(filepath.Base(m.Path), ":")
			ok, err := p.importOne(ctx, f.Name, m.Path, "maildir:"+key, func() (io.ReadCloser, error) { return md.Open(m) }, m.Flags, m.Date)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		fmt.Fprintf(p.stdout, "%s: %d messages\n", f.Name, n)
	}
	return p.result()
}

// importOne appends one message. A message that cannot be read is
// skipped (false, nil); a failure of the store ends the import. key names
// the message in its source: a message imported already under that key
// (an import run again after an interruption) is not stored twice.
func (p *mailPort) importOne(ctx context.Context, mailbox, what, key string, open func() (io.ReadCloser, error), flags []string, date time.Time) (bool, error) {
	r, err := open()
	if err != nil {
		p.skip(what, err)
		return false, nil
	}
	defer r.Close()
	src := &errReader{r: r}
	_, uid, err := p.st.AppendOnce(ctx, p.account, mailbox, "import:"+key, src, flags, date)
	if err != nil {
		if src.err != nil {
			p.skip(what, src.err)
			return false, nil
		}
		return false, fmt.Errorf("importing %s into %s: %w", what, mailbox, err)
	}
	return uid != 0, nil
}

// errReader remembers its reader's error, to tell a bad source file from
// a failing store.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func (p *mailPort) importMbox(ctx context.Context, path, mailbox string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := p.ensureMailbox(ctx, mailbox); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	r := mbox.NewReader(f)
	n := 0
	for i := 1; ; i++ {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		what := fmt.Sprintf("%s: message %d", path, i)
		// Named by the file's absolute path and the message's place in it:
		// two files called Sent in different folders are two sources.
		key := fmt.Sprintf("mbox:%s:%d:%s:%d", abs, i, m.Sender, m.Date.Unix())
		before := p.skipped
		ok, err := p.importOne(ctx, mailbox, what, key, func() (io.ReadCloser, error) { return io.NopCloser(m), nil }, m.Flags, m.Date)
		if err != nil {
			return err
		}
		if p.skipped != before {
			break // the file itself fails to read: the next message would too
		}
		if ok {
			n++
		}
	}
	fmt.Fprintf(p.stdout, "%s: %d messages\n", mailbox, n)
	return p.result()
}

// export writes every mailbox of the account as a Maildir++ tree under
// dir, which must be missing or empty: INBOX at the root, the others as
// folders named by maildir.FolderDir.
func (p *mailPort) export(ctx context.Context, dir string) error {
	if err := p.checkAccount(ctx); err != nil {
		return err
	}
	switch ents, err := os.ReadDir(dir); {
	case err == nil && len(ents) > 0:
		return &exitError{code: exDataErr, err: fmt.Errorf("%s is not empty", dir)}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	boxes, err := p.st.Mailboxes(ctx, p.account)
	if err != nil {
		return err
	}
	w, err := maildir.Create(dir)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, mb := range boxes {
		fw, err := w.Folder(mb.Name)
		if errors.Is(err, maildir.ErrName) {
			p.skip("mailbox "+mb.Name, err)
			continue
		}
		if err != nil {
			return err
		}
		n, err := p.exportMailbox(ctx, fw, mb.Name)
		if err == nil {
			err = fw.Close()
		}
		if err != nil {
			return fmt.Errorf("exporting %s: %w", mb.Name, err)
		}
		fmt.Fprintf(p.stdout, "%s: %d messages\n", mb.Name, n)
	}
	return p.result()
}

func (p *mailPort) exportMailbox(ctx context.Context, fw *maildir.FolderWriter, name string) (int, error) {
	msgs, _, err := p.st.Index(ctx, p.account, name)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range msgs {
		r, err := p.st.OpenMessage(ctx, p.account, name, m.UID)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		}
		if err != nil {
			return n, err
		}
		dropped, err := fw.Add(r, m.Flags, m.InternalDate)
		r.Close()
		if err != nil {
			return n, err
		}
		if len(dropped) > 0 {
			p.skip(fmt.Sprintf("keywords %q of %s UID %d", dropped, name, m.UID),
				errors.New("a Maildir folder has 26 keyword letters"))
		}
		n++
	}
	return n, nil
}
