package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// lockRetry is how often a busy mbox lock is tried again; the attempt
// gives up when ctx is done or after lockWait (Postfix's
// deliver_lock_attempts times deliver_lock_delay).
const (
	lockRetry = 100 * time.Millisecond
	lockWait  = 20 * time.Second
)

// mbox appends msg to the mbox file r.Dest (RFC 4155): a "From " line,
// Return-Path and Delivered-To, the message with ">From " quoting and an
// empty line. A failure leaves the file as it was and defers.
func (d *Deliverer) mbox(ctx context.Context, msg message, r *envelope.Recipient) queue.Result {
	if err := d.appendMbox(ctx, msg, r); err != nil {
		d.fault(msg.env.ID, "delivering to file %s: %v", r.Dest, err)
		return deferred("cannot append message to file " + r.Dest)
	}
	return delivered("delivered to file: " + r.Dest)
}

func (d *Deliverer) appendMbox(ctx context.Context, msg message, r *envelope.Recipient) (err error) {
	src, err := msg.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := d.openMbox(r.Dest)
	if err != nil {
		return err
	}
	defer f.Close() // releases the lock
	if err := lockFile(ctx, f); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", r.Dest, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", r.Dest)
	}
	old := fi.Size()
	if err := d.writeMbox(ctx, f, msg.env, r, src); err != nil {
		if terr := f.Truncate(old); terr != nil {
			err = errors.Join(err, fmt.Errorf("truncating %s back to %d bytes: %w", r.Dest, old, terr))
		}
		return err
	}
	return nil
}

// openMbox opens path for appending, creating it with mode 0600 (owned by
// RunAs when set and we may give it away).
func (d *Deliverer) openMbox(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if c := d.opt.RunAs; c != nil {
			if err := f.Chown(int(c.Uid), int(c.Gid)); err != nil {
				d.debug.Warn("giving mbox to its user", "file", path, "err", err)
			}
		}
		return f, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	// A symbolic link planted at the target must not redirect the
	// daemon's writes (Postfix local(8) refuses symlinked mailbox files
	// too), and only a regular file is a mailbox.
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening %s: not a regular file", path)
	}
	return f, nil
}

// lockFile takes an exclusive flock on f, retrying while another process
// holds it.
func lockFile(ctx context.Context, f *os.File) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("locking %s: %w", f.Name(), ctx.Err())
		case <-time.After(lockRetry):
		}
	}
}

// writeMbox writes one mbox entry and syncs it.
func (d *Deliverer) writeMbox(ctx context.Context, f *os.File, env *envelope.Envelope, r *envelope.Recipient, src io.Reader) error {
	w := bufio.NewWriterSize(f, 32<<10)
	sender := env.Sender
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	// RFC 4155 §2: "From " sender, a space, the date in asctime format.
	fmt.Fprintf(w, "From %s %s\n", headerSafe(sender), d.opt.Now().Format(time.ANSIC))
	w.Write(prefix(env, r, "\n"))
	nl, err := copyLines(w, ctxReader{ctx, src}, true)
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if !nl {
		w.WriteByte('\n')
	}
	w.WriteByte('\n') // the empty line that ends an entry
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", f.Name(), err)
	}
	return nil
}
