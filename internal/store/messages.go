package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// MessageInfo describes one message of a mailbox.
type MessageInfo struct {
	UID          uint32
	InternalDate time.Time
	Size         int64 // prefix + content, the RFC 9051 RFC822.SIZE
	Flags        []string
	ModSeq       uint64
	// The first such header fields, unfolded; From, To and Subject have
	// their RFC 2047 encoded words decoded.
	From, To, Subject, Date, MessageID string
}

// Messages lists a mailbox's messages in UID order.
func (s *Store) Messages(ctx context.Context, account, mailbox string) ([]MessageInfo, error) {
	mb, err := s.lookupMailbox(ctx, nil, account, mailbox)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+messageInfoColumns+`
		FROM messages WHERE mailbox_id = ? ORDER BY uid`, mb.id)
	if err != nil {
		return nil, fmt.Errorf("listing messages: %w", err)
	}
	return scanMessageInfos(rows, mb.messages)
}

// Index lists a mailbox's messages in UID order as Messages does, without
// the cached header fields (what IMAP's SELECT and a POP3 login need, at
// a fraction of the cost for a large mailbox), with the mailbox's
// HIGHESTMODSEQ read in the same transaction: every later change has a
// higher mod-sequence (Changes).
func (s *Store) Index(ctx context.Context, account, mailbox string) ([]MessageInfo, uint64, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("listing messages: %w", err)
	}
	defer tx.Rollback()
	mb, err := s.lookupMailbox(ctx, tx, account, mailbox)
	if err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT uid, internal_date, size, flags, modseq
		FROM messages WHERE mailbox_id = ? ORDER BY uid`, mb.id)
	if err != nil {
		return nil, 0, fmt.Errorf("listing messages: %w", err)
	}
	defer rows.Close()
	out := make([]MessageInfo, 0, mb.messages)
	for rows.Next() {
		var m MessageInfo
		var date int64
		var flags string
		if err := rows.Scan(&m.UID, &date, &m.Size, &flags, &m.ModSeq); err != nil {
			return nil, 0, fmt.Errorf("listing messages: %w", err)
		}
		m.InternalDate = time.Unix(date, 0)
		m.Flags = splitFlags(flags)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing messages: %w", err)
	}
	return out, uint64(mb.highestModSeq), nil
}

// Content is a message as a POP3 session holds it from its login: what
// opening it takes, so that each RETR costs no lookup.
type Content struct {
	UID    uint32
	Size   int64
	prefix []byte
	blob   string
}

// Contents lists a mailbox's messages in UID order with what opening each
// takes (OpenContent).
func (s *Store) Contents(ctx context.Context, account, mailbox string) ([]Content, error) {
	mb, err := s.lookupMailbox(ctx, nil, account, mailbox)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT uid, size, prefix, blob
		FROM messages WHERE mailbox_id = ? ORDER BY uid`, mb.id)
	if err != nil {
		return nil, fmt.Errorf("listing messages: %w", err)
	}
	defer rows.Close()
	out := make([]Content, 0, mb.messages)
	for rows.Next() {
		var c Content
		if err := rows.Scan(&c.UID, &c.Size, &c.prefix, &c.blob); err != nil {
			return nil, fmt.Errorf("listing messages: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing messages: %w", err)
	}
	return out, nil
}

// OpenContent opens a message that Contents listed, as OpenMessage does.
// Blob names are never reused, so it is that message's content or, once
// no message row names the blob any more, ErrNotFound.
func (s *Store) OpenContent(c Content) (io.ReadCloser, error) {
	if c.blob == "" {
		return nil, fmt.Errorf("message %d: not listed by Contents: %w", c.UID, ErrNotFound)
	}
	f, err := os.Open(s.blobPath(c.blob))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("message %d (expunged meanwhile): %w", c.UID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening message %d: %w", c.UID, err)
	}
	return messageReader{io.MultiReader(bytes.NewReader(c.prefix), f), f}, nil
}

// Matching lists in UID order, with only their UID and cached header
// fields (From, To, Subject, Date, MessageID), the messages whose cached
// field ("from", "to" or "subject") may contain needle: those where it
// does, ASCII letters compared without case, and those whose cached value
// is long enough to have been clipped (the caller checks them against the
// header). IMAP's
// SEARCH SUBJECT, FROM and TO start from it: the database filters a
// large mailbox faster than its rows can be handed over.
func (s *Store) Matching(ctx context.Context, account, mailbox, field, needle string) ([]MessageInfo, error) {
	col, ok := map[string]string{"from": "hdr_from", "to": "hdr_to", "subject": "subject"}[field]
	if !ok {
		return nil, fmt.Errorf("no cached field %q", field)
	}
	mb, err := s.lookupMailbox(ctx, nil, account, mailbox)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT uid, hdr_from, hdr_to, subject, hdr_date, message_id FROM messages
		WHERE mailbox_id = ? AND (instr(lower(`+col+`), lower(?)) > 0 OR octet_length(`+col+`) >= ?)
		ORDER BY uid`, mb.id, needle, maxFieldLen-8)
	if err != nil {
		return nil, fmt.Errorf("searching messages: %w", err)
	}
	defer rows.Close()
	var out []MessageInfo
	for rows.Next() {
		var m MessageInfo
		if err := rows.Scan(&m.UID, &m.From, &m.To, &m.Subject, &m.Date, &m.MessageID); err != nil {
			return nil, fmt.Errorf("searching messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("searching messages: %w", err)
	}
	return out, nil
}

// messageInfoColumns are the columns scanMessageInfos reads.
const messageInfoColumns = `uid, internal_date, size, flags, modseq,
	hdr_from, hdr_to, subject, hdr_date, message_id`

// scanMessageInfos reads rows of messageInfoColumns and closes them.
func scanMessageInfos(rows *sql.Rows, hint int) ([]MessageInfo, error) {
	defer rows.Close()
	out := make([]MessageInfo, 0, hint)
	for rows.Next() {
		var m MessageInfo
		var date int64
		var flags string
		if err := rows.Scan(&m.UID, &date, &m.Size, &flags, &m.ModSeq,
			&m.From, &m.To, &m.Subject, &m.Date, &m.MessageID); err != nil {
			return nil, fmt.Errorf("listing messages: %w", err)
		}
		m.InternalDate = time.Unix(date, 0)
		m.Flags = splitFlags(flags)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing messages: %w", err)
	}
	return out, nil
}

// OpenMessage returns the message's bytes: the recipient's prefix followed
// by the shared content.
func (s *Store) OpenMessage(ctx context.Context, account, mailbox string, uid uint32) (io.ReadCloser, error) {
	a, err := accountName(account)
	if err != nil {
		return nil, err
	}
	mb, err := mailboxName(mailbox)
	if err != nil {
		return nil, err
	}
	var prefix []byte
	var blob string
	err = s.st.openMessage.QueryRowContext(ctx, a, mb, uid).Scan(&prefix, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.lookupMailbox(ctx, nil, a, mb); err != nil {
			return nil, err // the mailbox itself is missing: say so
		}
		return nil, fmt.Errorf("message %d: %w", uid, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up message %d: %w", uid, err)
	}
	f, err := os.Open(s.blobPath(blob))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("message %d (expunged meanwhile): %w", uid, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening message %d: %w", uid, err)
	}
	return messageReader{io.MultiReader(bytes.NewReader(prefix), f), f}, nil
}

type messageReader struct {
	io.Reader
	io.Closer
}

// Expunge removes, among the messages with the given UIDs (all of the
// mailbox's if uids is nil), those flagged \Deleted, as IMAP EXPUNGE and
// UID EXPUNGE do (RFC 9051 §6.4.3, §6.4.9). It returns the removed UIDs
// in ascending order. Blobs no message refers to any more are removed.
func (s *Store) Expunge(ctx context.Context, account, mailbox string, uids []uint32) ([]uint32, error) {
	var gone []uint32
	var blobs []string
	var changed int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		mb, err := s.lookupMailbox(ctx, tx, account, mailbox)
		if err != nil {
			return err
		}
		cands, err := selectMessages(ctx, tx, mb.id, uids)
		if err != nil {
			return err
		}
		refs := make(map[string]int)
		for _, c := range cands {
			if !hasFlag(c.flags, FlagDeleted) {
				continue
			}
			if err := expungeRow(ctx, tx, mb.id, c.uid, mb.highestModSeq+1); err != nil {
				return err
			}
			refs[c.blob]++
			gone = append(gone, c.uid)
		}
		if len(gone) == 0 {
			return nil
		}
		if err := s.pruneExpunged(ctx, tx, mb.id, mb.highestModSeq+1); err != nil {
			return err
		}
		// RFC 7162 §3.2.10: an expunge is a change, so HIGHESTMODSEQ grows.
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET messages = messages - ?,
			highestmodseq = highestmodseq + 1 WHERE id = ?`, len(gone), mb.id); err != nil {
			return fmt.Errorf("updating mailbox: %w", err)
		}
		blobs, err = releaseBlobs(ctx, tx, refs)
		changed = mb.id
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(changed)
	return gone, s.removeBlobs(blobs)
}

// expungeRow deletes a message row and remembers its UID as expunged at
// modseq, for Changes.
func expungeRow(ctx context.Context, tx *sql.Tx, mailboxID int64, uid uint32, modseq int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, uid); err != nil {
		return fmt.Errorf("expunging message %d: %w", uid, err)
	}
	return rememberExpunged(ctx, tx, mailboxID, uid, modseq)
}

// rememberExpunged records that uid left the mailbox at modseq.
func rememberExpunged(ctx context.Context, tx *sql.Tx, mailboxID int64, uid uint32, modseq int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)`,
		mailboxID, uid, modseq); err != nil {
		return fmt.Errorf("expunging message %d: %w", uid, err)
	}
	return nil
}

// pruneExpunged forgets the expunges before modseq, the one a change is
// making, when no session watches the mailbox. The rows serve only
// sessions that have it selected (Changes since their listing, which
// Index dates): a session that selects it later lists it at or after this
// change. A mailbox that POP3 empties day after day thus keeps no
// history. (CONDSTORE and QRESYNC, which would need it, are not offered.)
func (s *Store) pruneExpunged(ctx context.Context, tx *sql.Tx, mailboxID, modseq int64) error {
	if s.watched(mailboxID) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM expunged WHERE mailbox_id = ? AND modseq < ?`, mailboxID, modseq); err != nil {
		return fmt.Errorf("pruning expunged messages: %w", err)
	}
	return nil
}

// storedMessage is the part of a message row that changes go through.
type storedMessage struct {
	uid   uint32
	blob  string
	flags []string
}

// selectMessages returns the messages with the given UIDs, or all of the
// mailbox's when uids is nil, in UID order.
func selectMessages(ctx context.Context, tx *sql.Tx, mailboxID int64, uids []uint32) ([]storedMessage, error) {
	var out []storedMessage
	scan := func(row interface{ Scan(...any) error }) error {
		var m storedMessage
		var flags string
		if err := row.Scan(&m.uid, &m.blob, &flags); err != nil {
			return err
		}
		m.flags = splitFlags(flags)
		out = append(out, m)
		return nil
	}
	lo, hi := int64(0), int64(maxUID)
	if uids != nil {
		uids = slices.Clone(uids)
		slices.Sort(uids)
		uids = slices.Compact(uids)
		if len(uids) <= pointLimit {
			for _, uid := range uids {
				err := scan(tx.QueryRowContext(ctx, `SELECT uid, blob, flags FROM messages
					WHERE mailbox_id = ? AND uid = ?`, mailboxID, uid))
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("reading message %d: %w", uid, err)
				}
			}
			return out, nil
		}
		lo, hi = int64(uids[0]), int64(uids[len(uids)-1])
	}
	// Many UIDs (a STORE 1:* on a large mailbox) are read as one range,
	// not one query each, and those not asked for are left out.
	rows, err := tx.QueryContext(ctx, `SELECT uid, blob, flags FROM messages
		WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, mailboxID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return nil, fmt.Errorf("reading messages: %w", err)
		}
		if last := out[len(out)-1].uid; uids != nil {
			if _, ok := slices.BinarySearch(uids, last); !ok {
				out = out[:len(out)-1]
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	return out, nil
}

// splitFlags parses the stored, space-separated flags; none is nil.
func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}
