package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Changes is what happened to a mailbox after a mod-sequence.
type Changes struct {
	// Messages added or whose flags changed, in UID order. A message
	// added and expunged since is only in Expunged.
	Messages []MessageInfo
	// Expunged holds the UIDs removed (expunged, moved away), ascending.
	// It may name UIDs the caller never saw.
	Expunged      []uint32
	HighestModSeq uint64
	UIDNext       uint32
	UIDValidity   uint32
}

// Changes returns the changes of a mailbox whose mod-sequence is above
// since, read in one transaction so that they agree with HighestModSeq.
// An IMAP session keeps the HighestModSeq it last saw and asks again when
// Watch wakes it (RFC 7162 §3.1: every change raises the mod-sequence).
func (s *Store) Changes(ctx context.Context, account, mailbox string, since uint64) (Changes, error) {
	var c Changes
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return c, fmt.Errorf("reading changes: %w", err)
	}
	defer tx.Rollback()
	mb, err := s.lookupMailbox(ctx, tx, account, mailbox)
	if err != nil {
		return c, err
	}
	c.HighestModSeq, c.UIDNext, c.UIDValidity = uint64(mb.highestModSeq), uint32(mb.uidnext), mb.uidvalidity
	if c.HighestModSeq <= since {
		return c, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+messageInfoColumns+` FROM messages
		WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mb.id, int64(since))
	if err != nil {
		return c, fmt.Errorf("reading changes: %w", err)
	}
	if c.Messages, err = scanMessageInfos(rows, 0); err != nil {
		return c, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?
		ORDER BY uid`, mb.id, int64(since))
	if err != nil {
		return c, fmt.Errorf("reading changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return c, fmt.Errorf("reading changes: %w", err)
		}
		c.Expunged = append(c.Expunged, uid)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("reading changes: %w", err)
	}
	return c, nil
}
