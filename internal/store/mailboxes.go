package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MailboxInfo describes one mailbox.
type MailboxInfo struct {
	Name          string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int
	Subscribed    bool
	SpecialUse    string // RFC 6154 attribute, e.g. `\Sent`, or ""

	// Filled by Mailbox only: they cost a pass over the mailbox's rows.
	Size    int64 // sum of the messages' sizes (RFC 8438 STATUS=SIZE)
	Unseen  int   // messages without \Seen
	Deleted int   // messages with \Deleted
}

// mailboxName validates a mailbox name and returns its stored form. ""
// means INBOX; RFC 9051 §5.1: INBOX is case-insensitive, other names are
// not. "/" is the hierarchy separator, so no name part is empty, and no
// part is "." or "..", which would read as a path to anything that maps
// names onto directories (a Maildir export); "*" and "%" are LIST
// wildcards (RFC 9051 §6.3.9) and are refused.
func mailboxName(name string) (string, error) {
	if name == "" || strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	if len(name) > 255 || !utf8.ValidString(name) {
		return "", fmt.Errorf("mailbox name %q: too long or not UTF-8: %w", name, ErrInvalid)
	}
	for _, r := range name {
		if isControl(r) || r == '*' || r == '%' {
			return "", fmt.Errorf("mailbox name %q: control character or wildcard: %w", name, ErrInvalid)
		}
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("mailbox name %q: empty, \".\" or \"..\" hierarchy level: %w", name, ErrInvalid)
		}
	}
	if first, _, _ := strings.Cut(name, "/"); strings.EqualFold(first, "INBOX") {
		name = "INBOX" + name[len(first):]
	}
	return name, nil
}

// CreateMailbox adds an empty mailbox to an account.
func (s *Store) CreateMailbox(ctx context.Context, account, name string) error {
	a, err := accountName(account)
	if err != nil {
		return err
	}
	mb, err := mailboxName(name)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		id, err := s.accountID(ctx, tx, a)
		if err != nil {
			return err
		}
		var x int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, id, mb).Scan(&x)
		if err == nil {
			return fmt.Errorf("mailbox %s of %s: %w", mb, a, ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("looking up mailbox %s of %s: %w", mb, a, err)
		}
		return s.insertMailbox(ctx, tx, id, mb, "")
	})
}

// insertMailbox creates a mailbox row with a fresh UIDVALIDITY.
// RFC 9051 §2.3.1.1: UIDVALIDITY must change whenever a name is reused for
// a new mailbox. It is the creation time in seconds, pushed past the last
// one given out, so that it is unique across the whole store and grows.
func (s *Store) insertMailbox(ctx context.Context, tx *sql.Tx, accountID int64, name, use string) error {
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'uidvalidity'`).Scan(&last); err != nil {
		return fmt.Errorf("reading uidvalidity: %w", err)
	}
	v := max(s.opt.Now().Unix(), last+1)
	if v > 1<<32-1 {
		return errors.New("uidvalidity exhausted")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE name = 'uidvalidity'`, v); err != nil {
		return fmt.Errorf("saving uidvalidity: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, uidnext,
		highestmodseq, messages, subscribed, special_use) VALUES (?, ?, ?, 1, 1, 0, 1, ?)`,
		accountID, name, v, use)
	if err != nil {
		return fmt.Errorf("creating mailbox %s: %w", name, err)
	}
	return nil
}

// Mailboxes lists an account's mailboxes, INBOX first, then by name.
func (s *Store) Mailboxes(ctx context.Context, account string) ([]MailboxInfo, error) {
	a, err := accountName(account)
	if err != nil {
		return nil, err
	}
	id, err := s.accountID(ctx, nil, a)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, uidvalidity, uidnext, highestmodseq, messages,
		subscribed, special_use FROM mailboxes WHERE account_id = ? ORDER BY name`, id)
	if err != nil {
		return nil, fmt.Errorf("listing mailboxes of %s: %w", a, err)
	}
	defer rows.Close()
	var out []MailboxInfo
	for rows.Next() {
		var m MailboxInfo
		var sub int
		if err := rows.Scan(&m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.Messages, &sub, &m.SpecialUse); err != nil {
			return nil, fmt.Errorf("listing mailboxes of %s: %w", a, err)
		}
		m.Subscribed = sub != 0
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing mailboxes of %s: %w", a, err)
	}
	slices.SortStableFunc(out, func(x, y MailboxInfo) int {
		return boolCmp(x.Name != "INBOX", y.Name != "INBOX")
	})
	return out, nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Count returns the number of messages in a mailbox, kept in the mailbox
// row so that it costs one indexed lookup.
func (s *Store) Count(ctx context.Context, account, mailbox string) (int, error) {
	mb, err := s.lookupMailbox(ctx, nil, account, mailbox)
	if err != nil {
		return 0, err
	}
	return mb.messages, nil
}

// mailboxRow is the part of a mailbox row that delivery and reading need.
type mailboxRow struct {
	id            int64
	uidvalidity   uint32
	uidnext       int64
	highestModSeq int64
	messages      int
}

// lookupMailbox validates the names and finds the mailbox row, inside tx,
// or on the reader pool with the prepared statement when tx is nil.
func (s *Store) lookupMailbox(ctx context.Context, tx *sql.Tx, account, mailbox string) (mailboxRow, error) {
	a, err := accountName(account)
	if err != nil {
		return mailboxRow{}, err
	}
	mb, err := mailboxName(mailbox)
	if err != nil {
		return mailboxRow{}, err
	}
	var row *sql.Row
	if tx == nil {
		row = s.st.lookupMailbox.QueryRowContext(ctx, a, mb)
	} else {
		row = tx.QueryRowContext(ctx, lookupMailboxSQL, a, mb)
	}
	var r mailboxRow
	err = row.Scan(&r.id, &r.uidvalidity, &r.uidnext, &r.highestModSeq, &r.messages)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("mailbox %s of %s: %w", mb, a, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("looking up mailbox %s of %s: %w", mb, a, err)
	}
	return r, nil
}

// Mailbox describes one mailbox, with the figures that need a pass over
// its messages (Size, Unseen, Deleted: IMAP STATUS).
func (s *Store) Mailbox(ctx context.Context, account, name string) (MailboxInfo, error) {
	var m MailboxInfo
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return m, fmt.Errorf("reading mailbox: %w", err)
	}
	defer tx.Rollback()
	row, err := s.lookupMailbox(ctx, tx, account, name)
	if err != nil {
		return m, err
	}
	var sub int
	err = tx.QueryRowContext(ctx, `SELECT name, uidvalidity, uidnext, highestmodseq, messages,
		subscribed, special_use FROM mailboxes WHERE id = ?`, row.id).
		Scan(&m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.Messages, &sub, &m.SpecialUse)
	if err != nil {
		return m, fmt.Errorf("reading mailbox %s: %w", name, err)
	}
	m.Subscribed = sub != 0
	// Flags are stored sorted and space-separated, and no keyword starts
	// with a backslash (flagName), so a padded LIKE finds a system flag.
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0),
		COALESCE(SUM(CASE WHEN ' ' || flags || ' ' LIKE '% \Seen %' THEN 0 ELSE 1 END), 0),
		COALESCE(SUM(CASE WHEN ' ' || flags || ' ' LIKE '% \Deleted %' THEN 1 ELSE 0 END), 0)
		FROM messages WHERE mailbox_id = ?`, row.id).Scan(&m.Size, &m.Unseen, &m.Deleted)
	if err != nil {
		return m, fmt.Errorf("reading mailbox %s: %w", name, err)
	}
	return m, nil
}

// DeleteMailbox removes a mailbox and its messages. Its children, if any,
// stay (RFC 9051 §6.3.4: deleting a parent leaves its inferiors). INBOX
// cannot be deleted.
func (s *Store) DeleteMailbox(ctx context.Context, account, name string) error {
	mbName, err := mailboxName(name)
	if err != nil {
		return err
	}
	if mbName == "INBOX" {
		return fmt.Errorf("INBOX cannot be deleted: %w", ErrInvalid)
	}
	var gone []string
	var id int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		mb, err := s.lookupMailbox(ctx, tx, account, mbName)
		if err != nil {
			return err
		}
		id = mb.id
		refs, err := blobRefs(ctx, tx, `SELECT blob FROM messages WHERE mailbox_id = ?`, mb.id)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM messages WHERE mailbox_id = ?`,
			`DELETE FROM expunged WHERE mailbox_id = ?`,
			`DELETE FROM mailboxes WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, mb.id); err != nil {
				return fmt.Errorf("deleting mailbox %s: %w", mbName, err)
			}
		}
		gone, err = releaseBlobs(ctx, tx, refs)
		return err
	})
	if err != nil {
		return err
	}
	s.notify(id)
	return s.removeBlobs(gone)
}

// RenameMailbox renames a mailbox and every mailbox below it in the
// hierarchy ("from/..."), keeping their UIDVALIDITY and messages. No
// target name may exist already. Renaming INBOX is special (RFC 9051
// §6.3.6): its messages move into a new mailbox called to, INBOX stays,
// empty, and its children are not renamed.
func (s *Store) RenameMailbox(ctx context.Context, account, from, to string) error {
	a, err := accountName(account)
	if err != nil {
		return err
	}
	src, err := mailboxName(from)
	if err != nil {
		return err
	}
	dst, err := mailboxName(to)
	if err != nil {
		return err
	}
	if dst == "INBOX" {
		return fmt.Errorf("mailbox INBOX of %s: %w", a, ErrExists)
	}
	if src == "INBOX" {
		return s.renameInbox(ctx, a, dst)
	}
	var moved []int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		aid, err := s.accountID(ctx, tx, a)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, name FROM mailboxes WHERE account_id = ?`, aid)
		if err != nil {
			return fmt.Errorf("renaming mailbox %s: %w", src, err)
		}
		names := make(map[string]int64)
		for rows.Next() {
			var id int64
			var n string
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return fmt.Errorf("renaming mailbox %s: %w", src, err)
			}
			names[n] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("renaming mailbox %s: %w", src, err)
		}
		if _, ok := names[src]; !ok {
			return fmt.Errorf("mailbox %s of %s: %w", src, a, ErrNotFound)
		}
		renames := make(map[int64]string)
		for n, id := range names {
			if n == src || strings.HasPrefix(n, src+"/") {
				renames[id] = dst + n[len(src):]
			}
		}
		for _, n := range renames {
			if len(n) > 255 {
				return fmt.Errorf("mailbox name %q: too long: %w", n, ErrInvalid)
			}
			if other, ok := names[n]; ok && renames[other] == "" {
				return fmt.Errorf("mailbox %s of %s: %w", n, a, ErrExists)
			}
		}
		// Two passes, so that a rename into its own hierarchy (a to a/b)
		// never meets a name that is about to move: first to names no
		// mailbox can have (a control character), then to the new ones.
		for _, pass := range []func(id int64) string{
			func(id int64) string { return fmt.Sprintf("\x00%d", id) },
			func(id int64) string { return renames[id] },
		} {
			for id := range renames {
				if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, pass(id), id); err != nil {
					return fmt.Errorf("renaming mailbox %s: %w", src, err)
				}
			}
		}
		for id := range renames {
			moved = append(moved, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(moved...)
	return nil
}

// renameInbox makes the mailbox dst and moves every INBOX message into it.
func (s *Store) renameInbox(ctx context.Context, account, dst string) error {
	var ids []int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		aid, err := s.accountID(ctx, tx, account)
		if err != nil {
			return err
		}
		var x int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, aid, dst).Scan(&x)
		if err == nil {
			return fmt.Errorf("mailbox %s of %s: %w", dst, account, ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("renaming INBOX: %w", err)
		}
		if err := s.insertMailbox(ctx, tx, aid, dst, ""); err != nil {
			return err
		}
		res, err := s.transfer(ctx, tx, account, "INBOX", nil, dst, true)
		ids = res.boxes
		return err
	})
	if err != nil {
		return err
	}
	s.notify(ids...)
	return nil
}

// Subscribe adds the mailbox to the account's subscriptions (IMAP LSUB,
// LIST (SUBSCRIBED)), or removes it.
func (s *Store) Subscribe(ctx context.Context, account, name string, on bool) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		mb, err := s.lookupMailbox(ctx, tx, account, name)
		if err != nil {
			return err
		}
		v := 0
		if on {
			v = 1
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET subscribed = ? WHERE id = ?`, v, mb.id); err != nil {
			return fmt.Errorf("subscribing to %s: %w", name, err)
		}
		return nil
	})
}
