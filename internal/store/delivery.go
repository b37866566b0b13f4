package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// maxHeaderCapture bounds the bytes kept from the start of a message to
// fill the cached header fields.
const maxHeaderCapture = 32 << 10

var (
	// errFinished is returned by a Delivery used after Commit or Abort.
	errFinished = errors.New("delivery already committed or aborted")
	// errMixed is returned when Write and LinkFrom are both used.
	errMixed = errors.New("delivery content given both by Write and LinkFrom")
)

// Delivery is one message on its way into one or more mailboxes. It is
// two-phase: nothing is visible until Commit returns nil, and Abort (or a
// failed Commit) leaves nothing behind. A Delivery is used by one
// goroutine.
type Delivery struct {
	s      *Store
	f      *os.File // the blob being written; nil until the first Write
	blob   string   // "XX/NAME"
	linked bool     // the blob is a link made by LinkFrom
	rcpts  []recipient
	size   int64
	head   []byte    // the first maxHeaderCapture bytes of the content
	date   time.Time // the internal date; zero is the time of Commit
	err    error     // first write error, reported by Commit
	done   bool
}

type recipient struct {
	account, mailbox string
	prefix           []byte
	key              string // "" for none: the column is NULL
	flags            string // stored form: sorted, space-separated

	// Set by the committer when the row is written.
	uidvalidity, uid uint32
}

// BeginDelivery starts a delivery. Its content blob is made by the first
// Write, or by LinkFrom.
func (s *Store) BeginDelivery(ctx context.Context) (*Delivery, error) {
	select {
	case <-s.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	default:
	}
	name, err := s.newBlobName()
	if err != nil {
		return nil, err
	}
	return &Delivery{s: s, blob: name}, nil
}

// Add names a recipient mailbox ("" is INBOX) and the header lines put
// before the shared content for that recipient only (Return-Path,
// Delivered-To). Names are checked by Commit.
func (d *Delivery) Add(account, mailbox string, prefix []byte) {
	d.AddKeyed(account, mailbox, "", prefix)
}

// AddKeyed is Add with a delivery key ("" for none): when the mailbox
// already holds a message delivered under key, this recipient is skipped
// (no message, no UID) and Commit still succeeds for it. A caller that
// may repeat a delivery after a crash (the queue settles it only after
// Commit returns) makes the repeat a no-op with a key naming the queued
// message and its recipient.
func (d *Delivery) AddKeyed(account, mailbox, key string, prefix []byte) {
	if d.done {
		return
	}
	p := make([]byte, len(prefix)) // never nil: the column is NOT NULL
	copy(p, prefix)
	d.rcpts = append(d.rcpts, recipient{account: account, mailbox: mailbox, key: key, prefix: p})
}

// Write appends to the content shared by every recipient.
func (d *Delivery) Write(p []byte) (int, error) {
	if d.done {
		return 0, errFinished
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.linked {
		return 0, errMixed
	}
	if d.f == nil {
		if d.f, d.err = d.s.createBlob(d.blob); d.err != nil {
			return 0, d.err
		}
	}
	if room := maxHeaderCapture - len(d.head); room > 0 {
		d.head = append(d.head, p[:min(room, len(p))]...)
	}
	n, err := d.f.Write(p)
	d.size += int64(n)
	if err != nil {
		d.err = fmt.Errorf("writing blob: %w", err)
		return n, d.err
	}
	return n, nil
}

// Commit makes the message durable in every recipient mailbox at once, or
// in none. If an account or mailbox does not exist (any more) it fails
// with an error wrapping ErrNotFound that names it.
func (d *Delivery) Commit(ctx context.Context) error {
	if d.done {
		return errFinished
	}
	d.done = true
	req, err := d.prepare()
	if err != nil {
		d.discard()
		return err
	}
	if err := d.closeBlob(); err != nil {
		d.discard()
		return err
	}
	if err := d.s.submit(ctx, req); err != nil {
		if !req.ambiguous {
			os.Remove(d.s.blobPath(d.blob))
		}
		if errors.Is(err, ErrNotFound) {
			// An account may have gone in another process: the next
			// UserExists checks (accountCache).
			d.s.accountsChanged()
		}
		return err
	}
	if req.unused {
		// Every recipient had the message already: no row names the
		// blob. Were this removal lost in a crash, the file would only
		// take room.
		os.Remove(d.s.blobPath(d.blob))
	}
	return nil
}

// closeBlob makes the written content durable and closes its file. A
// linked blob's content is durable already (see LinkFrom).
func (d *Delivery) closeBlob() error {
	if d.linked {
		return nil
	}
	if d.f == nil { // nothing was written: the content is empty
		f, err := d.s.createBlob(d.blob)
		if err != nil {
			return err
		}
		d.f = f
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("syncing blob: %w", err)
	}
	f := d.f
	d.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing blob: %w", err)
	}
	return nil
}

// prepare checks the recipients and builds the committer's request.
func (d *Delivery) prepare() (*commitReq, error) {
	if d.err != nil {
		return nil, d.err
	}
	if len(d.rcpts) == 0 {
		return nil, errors.New("delivery has no recipients")
	}
	for i, r := range d.rcpts {
		a, err := accountName(r.account)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w (%w)", r.account, ErrNotFound, err)
		}
		mb, err := mailboxName(r.mailbox)
		if err != nil {
			return nil, fmt.Errorf("mailbox %q of %s: %w (%w)", r.mailbox, a, ErrNotFound, err)
		}
		d.rcpts[i].account, d.rcpts[i].mailbox = a, mb
	}
	date := d.date
	if date.IsZero() {
		date = d.s.opt.Now()
	}
	return &commitReq{
		blob:    d.blob,
		size:    d.size,
		date:    date.Unix(),
		hdr:     parseHeader(d.head),
		section: headerSection(d.head, int64(len(d.head)) == d.size),
		rcpts:   d.rcpts,
		done:    make(chan struct{}),
	}, nil
}

// Abort abandons the delivery and removes its blob. It may be called after
// Commit, where it does nothing.
func (d *Delivery) Abort() {
	if d.done {
		return
	}
	d.done = true
	d.discard()
}

func (d *Delivery) discard() {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
	// A blob whose file was closed by a failed closeBlob, or never
	// created, is removed too (or not found): the name is this
	// delivery's alone.
	os.Remove(d.s.blobPath(d.blob))
}
