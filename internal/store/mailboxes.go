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
}

// mailboxName validates a mailbox name and returns its stored form. ""
// means INBOX; RFC 9051 §5.1: INBOX is case-insensitive, other names are
// not. "/" is the hierarchy separator, so no name part is empty; "*" and
// "%" are LIST wildcards (RFC 9051 §6.3.9) and are refused.
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
	if slices.Contains(strings.Split(name, "/"), "") {
		return "", fmt.Errorf("mailbox name %q: empty hierarchy level: %w", name, ErrInvalid)
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
	err = row.Scan(&r.id, &r.uidnext, &r.highestModSeq, &r.messages)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("mailbox %s of %s: %w", mb, a, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("looking up mailbox %s of %s: %w", mb, a, err)
	}
	return r, nil
}
