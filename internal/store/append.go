package store

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Append stores a message given whole by a client (IMAP APPEND, RFC 9051
// §6.3.12) or by an import, with its flags and internal date (zero: now).
// The content is kept byte for byte and is durable when Append returns,
// which gives the message's UIDVALIDITY and UID (RFC 4315 APPENDUID). A
// missing mailbox is ErrNotFound (IMAP's TRYCREATE).
func (s *Store) Append(ctx context.Context, account, mailbox string, r io.Reader, flags []string, date time.Time) (uidvalidity, uid uint32, err error) {
	return s.AppendOnce(ctx, account, mailbox, "", r, flags, date)
}

// AppendOnce is Append under a key ("" for none), as Delivery.AddKeyed:
// when the mailbox holds a message stored under key already, nothing is
// stored and uid is 0. An import that is run again after an interruption
// names each message by its source, so that it is not stored twice.
func (s *Store) AppendOnce(ctx context.Context, account, mailbox, key string, r io.Reader, flags []string, date time.Time) (uidvalidity, uid uint32, err error) {
	clean := make([]string, 0, len(flags))
	for _, f := range flags {
		n, err := flagName(f)
		if err != nil {
			return 0, 0, err
		}
		clean = append(clean, n)
	}
	d, err := s.BeginDelivery(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer d.Abort()
	d.date = date
	d.AddKeyed(account, mailbox, key, nil)
	d.rcpts[0].flags = strings.Join(applyFlags(nil, FlagsAdd, clean), " ")
	if _, err := io.Copy(d, r); err != nil {
		return 0, 0, fmt.Errorf("appending to %s: %w", mailbox, err)
	}
	if err := d.Commit(ctx); err != nil {
		return 0, 0, err
	}
	return d.rcpts[0].uidvalidity, d.rcpts[0].uid, nil
}
