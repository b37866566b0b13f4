package store

import (
	"context"
	"database/sql"
	"fmt"
)

// CopyResult pairs the UIDs a Copy or Move took with those it gave, in
// source UID order (RFC 4315 COPYUID). UIDs that did not exist are left
// out.
type CopyResult struct {
	UIDValidity uint32 // the destination's
	Source      []uint32
	Dest        []uint32
}

// Copy copies messages (all of the mailbox's if uids is nil) into another
// mailbox of the same account, with their flags and internal dates
// (RFC 9051 §6.4.7). The content is shared, not written again. A missing
// destination is ErrNotFound (IMAP's TRYCREATE).
func (s *Store) Copy(ctx context.Context, account, from string, uids []uint32, to string) (CopyResult, error) {
	return s.copyOrMove(ctx, account, from, uids, to, false)
}

// Move is Copy followed by the removal of the source messages, in one
// transaction (RFC 6851): the source UIDs are expunged, as Changes
// reports.
func (s *Store) Move(ctx context.Context, account, from string, uids []uint32, to string) (CopyResult, error) {
	return s.copyOrMove(ctx, account, from, uids, to, true)
}

func (s *Store) copyOrMove(ctx context.Context, account, from string, uids []uint32, to string, move bool) (CopyResult, error) {
	var res transferred
	err := s.writeTx(ctx, func(tx *sql.Tx) (err error) {
		res, err = s.transfer(ctx, tx, account, from, uids, to, move)
		return err
	})
	if err != nil {
		return CopyResult{}, err
	}
	s.notify(res.boxes...)
	return res.CopyResult, nil
}

// transferred is what transfer did: the result, and the mailboxes changed.
type transferred struct {
	CopyResult
	boxes []int64
}

// transfer copies or moves messages inside tx. Copied messages share the
// blob (its refs grow); moved rows change mailbox and UID, so no blob
// reference changes. Each side takes one new mod-sequence.
func (s *Store) transfer(ctx context.Context, tx *sql.Tx, account, from string, uids []uint32, to string, move bool) (transferred, error) {
	var res transferred
	src, err := s.lookupMailbox(ctx, tx, account, from)
	if err != nil {
		return res, err
	}
	dst, err := s.lookupMailbox(ctx, tx, account, to)
	if err != nil {
		return res, err
	}
	msgs, err := selectMessages(ctx, tx, src.id, uids)
	if err != nil {
		return res, err
	}
	same := src.id == dst.id
	if dst.uidnext+int64(len(msgs)) > maxUID {
		return res, fmt.Errorf("mailbox %s of %s: no UIDs left", to, account)
	}
	res.UIDValidity = dst.uidvalidity
	if len(msgs) == 0 {
		return res, nil
	}
	dstMod := dst.highestModSeq + 1
	srcMod := src.highestModSeq + 1
	if same {
		srcMod = dstMod
	}
	next := dst.uidnext
	for _, m := range msgs {
		uid := uint32(next)
		next++
		if move {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET mailbox_id = ?, uid = ?, modseq = ?,
				delivery_key = NULL WHERE mailbox_id = ? AND uid = ?`, dst.id, uid, dstMod, src.id, m.uid); err != nil {
				return res, fmt.Errorf("moving message %d: %w", m.uid, err)
			}
			if err := rememberExpunged(ctx, tx, src.id, m.uid, srcMod); err != nil {
				return res, err
			}
		} else {
			if _, err := tx.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, blob, prefix, flags, modseq,
				internal_date, size, hdr_from, hdr_to, subject, hdr_date, message_id, delivery_key, header)
				SELECT ?, ?, blob, prefix, flags, ?, internal_date, size, hdr_from, hdr_to, subject,
				hdr_date, message_id, NULL, header FROM messages WHERE mailbox_id = ? AND uid = ?`,
				dst.id, uid, dstMod, src.id, m.uid); err != nil {
				return res, fmt.Errorf("copying message %d: %w", m.uid, err)
			}
			if err := addBlobRef(ctx, tx, m.blob, src.id, m.uid); err != nil {
				return res, err
			}
		}
		res.Source = append(res.Source, m.uid)
		res.Dest = append(res.Dest, uid)
	}
	n := int64(len(msgs))
	if move {
		if err := s.pruneExpunged(ctx, tx, src.id, srcMod); err != nil {
			return res, err
		}
	}
	if move && !same {
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET messages = messages - ?, highestmodseq = ?
			WHERE id = ?`, n, srcMod, src.id); err != nil {
			return res, fmt.Errorf("updating mailbox %s: %w", from, err)
		}
	}
	added := n
	if move && same {
		added = 0
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidnext = ?, messages = messages + ?,
		highestmodseq = ? WHERE id = ?`, next, added, dstMod, dst.id); err != nil {
		return res, fmt.Errorf("updating mailbox %s: %w", to, err)
	}
	res.boxes = []int64{src.id, dst.id}
	return res, nil
}

// addBlobRef counts one more message row for a blob. A blob with one row
// has no blobs row (see the schema): the second row makes it, with refs 2.
func addBlobRef(ctx context.Context, tx *sql.Tx, blob string, mailboxID int64, uid uint32) error {
	res, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs + 1 WHERE name = ?`, blob)
	if err != nil {
		return fmt.Errorf("sharing blob %s: %w", blob, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sharing blob %s: %w", blob, err)
	} else if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (name, size, refs)
		SELECT blob, size - length(prefix), 2 FROM messages WHERE mailbox_id = ? AND uid = ?`,
		mailboxID, uid); err != nil {
		return fmt.Errorf("sharing blob %s: %w", blob, err)
	}
	return nil
}
