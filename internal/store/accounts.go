package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// accountName validates an account name and returns its stored form.
// Names are "toto" (a mydestination user) or "bob@example.org" (a virtual
// mailbox); lookups ignore case, so the stored form is lower case.
func accountName(name string) (string, error) {
	lower := strings.ToLower(name)
	if len(name) == 0 || len(lower) > 255 || len(name) > 255 {
		return "", fmt.Errorf("account name %q: length must be 1 to 255 bytes: %w", name, ErrInvalid)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("account name %q: not UTF-8: %w", name, ErrInvalid)
	}
	for _, r := range name {
		if isControl(r) || r == '/' {
			return "", fmt.Errorf("account name %q: control character or '/': %w", name, ErrInvalid)
		}
	}
	return lower, nil
}

// isControl reports C0, DEL and C1 control characters.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0)
}

// defaultMailboxes are created with every account: INBOX and the RFC 6154
// §2 special-use mailboxes.
var defaultMailboxes = []struct{ name, use string }{
	{"INBOX", ""},
	{"Sent", `\Sent`},
	{"Drafts", `\Drafts`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}

// AddUser creates an account with its default mailboxes (INBOX, Sent,
// Drafts, Trash, Junk, Archive). An empty password makes an account that
// receives mail but cannot log in.
func (s *Store) AddUser(ctx context.Context, name, password string) error {
	n, err := accountName(name)
	if err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	defer s.accountsChanged()
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE name = ?`, n).Scan(&id)
		if err == nil {
			return fmt.Errorf("account %s: %w", n, ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("looking up account %s: %w", n, err)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO accounts (name, password, created) VALUES (?, ?, ?) RETURNING id`,
			n, hash, s.opt.Now().Unix()).Scan(&id)
		if err != nil {
			return fmt.Errorf("adding account %s: %w", n, err)
		}
		for _, mb := range defaultMailboxes {
			if err := s.insertMailbox(ctx, tx, id, mb.name, mb.use); err != nil {
				return fmt.Errorf("adding account %s: %w", n, err)
			}
		}
		if _, err := tx.ExecContext(ctx, bumpAccountsSQL); err != nil {
			return fmt.Errorf("adding account %s: %w", n, err)
		}
		return nil
	})
}

// DeleteUser removes an account, its mailboxes and messages, and the blobs
// no other message refers to.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	n, err := accountName(name)
	if err != nil {
		return err
	}
	var gone []string
	defer s.accountsChanged()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		id, err := s.accountID(ctx, tx, n)
		if err != nil {
			return err
		}
		refs, err := blobRefs(ctx, tx, `SELECT m.blob FROM messages m
			JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account_id = ?`, id)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?)`,
			`DELETE FROM expunged WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?)`,
			`DELETE FROM mailboxes WHERE account_id = ?`,
			`DELETE FROM accounts WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("deleting account %s: %w", n, err)
			}
		}
		if _, err := tx.ExecContext(ctx, bumpAccountsSQL); err != nil {
			return fmt.Errorf("deleting account %s: %w", n, err)
		}
		gone, err = releaseBlobs(ctx, tx, refs)
		return err
	})
	if err != nil {
		return err
	}
	return s.removeBlobs(gone)
}

// SetPassword replaces an account's password; "" disables logging in.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	n, err := accountName(name)
	if err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET password = ? WHERE name = ?`, hash, n)
		if err != nil {
			return fmt.Errorf("setting password of %s: %w", n, err)
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			return fmt.Errorf("account %s: %w", n, ErrNotFound)
		}
		return nil
	})
}

// Users returns every account name, sorted.
func (s *Store) Users(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("listing accounts: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return names, nil
}

// UserExists reports whether the account exists. A malformed name does not.
//
// It answers from the account names kept in memory: an account added or
// deleted through this Store, or added by another process (the `facteur
// user` commands beside a running daemon), is seen at once; one deleted
// by another process within Options.AccountsRefresh (see accountCache).
func (s *Store) UserExists(ctx context.Context, name string) (bool, error) {
	select {
	case <-s.quit:
		return false, ErrClosed
	default:
	}
	n, err := accountName(name)
	if err != nil {
		return false, nil
	}
	return s.accountExists(ctx, n)
}

// Authenticate reports whether password is the account's password. An
// unknown account, or one without a password, costs the same hash
// computation as a wrong password so that timing does not reveal it.
func (s *Store) Authenticate(ctx context.Context, name, password string) (bool, error) {
	hash := ""
	if n, err := accountName(name); err == nil {
		err := s.rdb.QueryRowContext(ctx, `SELECT password FROM accounts WHERE name = ?`, n).Scan(&hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("looking up account %s: %w", n, err)
		}
	}
	if hash == "" {
		checkPassword(s.dummyHash(), password)
		return false, nil
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return false, fmt.Errorf("checking password of %s: %w", name, err)
	}
	return ok, nil
}

// accountID finds an account's id, inside tx, or on the reader pool with
// the prepared statement when tx is nil.
func (s *Store) accountID(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var row *sql.Row
	if tx == nil {
		row = s.st.accountID.QueryRowContext(ctx, name)
	} else {
		row = tx.QueryRowContext(ctx, accountIDSQL, name)
	}
	var id int64
	err := row.Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("account %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("looking up account %s: %w", name, err)
	}
	return id, nil
}

// writeTx runs f in a transaction on the writer connection.
func (s *Store) writeTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// dummyHash returns the hash an unknown user's password is checked
// against. It is made on first use, not at Open: every command that opens
// the store would otherwise pay for an argon2id computation, and the
// server would keep its 19 MiB from the start.
func (s *Store) dummyHash() string {
	s.dummyOnce.Do(func() {
		// hashPassword fails only when the system's random source does.
		s.dummy, _ = s.hashPassword("facteur: no such user")
	})
	return s.dummy
}
