package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SQL of the statements that run for every delivery or lookup. They are
// prepared once per Store (stmts), not parsed again on every call.
const (
	accountIDSQL = `SELECT id FROM accounts WHERE name = ?`

	lookupMailboxSQL = `SELECT m.id, m.uidvalidity, m.uidnext, m.highestmodseq, m.messages
	FROM mailboxes m JOIN accounts a ON a.id = m.account_id
	WHERE a.name = ? AND m.name = ?`

	// openMessageSQL finds a message by account, mailbox and UID in one
	// step: POP3's RETR and IMAP's FETCH BODY[] run it per message.
	openMessageSQL = `SELECT m.prefix, m.blob FROM messages m
	JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id
	WHERE a.name = ? AND b.name = ? AND m.uid = ?`

	insertBlobSQL = `INSERT INTO blobs (name, size, refs) VALUES (?, ?, ?)`

	// A row whose delivery key the mailbox holds already is skipped
	// (SQLite and PostgreSQL syntax); a clash of UIDs is still an error.
	insertMessageSQL = `INSERT INTO messages (mailbox_id, uid, blob, prefix, flags, modseq,
	internal_date, size, hdr_from, hdr_to, subject, hdr_date, message_id, delivery_key, header)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (mailbox_id, delivery_key) DO NOTHING`

	updateMailboxSQL = `UPDATE mailboxes SET uidnext = ?, highestmodseq = ?, messages = ? WHERE id = ?`
)

// stmts are the hot statements, prepared once when the Store opens.
// database/sql keeps each one prepared per connection: a reader
// connection parses accountID once in its life, and the writer's one
// connection parses the delivery statements once, which every group
// commit's transaction then reuses through Tx.StmtContext.
type stmts struct {
	// On the reader pool.
	accountID, lookupMailbox, accountsGen, openMessage *sql.Stmt
	// On the writer connection, for the committer.
	wLookupMailbox, insertBlob, insertMessage, updateMailbox *sql.Stmt
}

func prepareStmts(ctx context.Context, rdb, wdb *sql.DB) (*stmts, error) {
	var st stmts
	for _, p := range []struct {
		dst   **sql.Stmt
		db    *sql.DB
		query string
	}{
		{&st.accountID, rdb, accountIDSQL},
		{&st.lookupMailbox, rdb, lookupMailboxSQL},
		{&st.accountsGen, rdb, accountsGenSQL},
		{&st.openMessage, rdb, openMessageSQL},
		{&st.wLookupMailbox, wdb, lookupMailboxSQL},
		{&st.insertBlob, wdb, insertBlobSQL},
		{&st.insertMessage, wdb, insertMessageSQL},
		{&st.updateMailbox, wdb, updateMailboxSQL},
	} {
		var err error
		if *p.dst, err = p.db.PrepareContext(ctx, p.query); err != nil {
			st.close()
			return nil, fmt.Errorf("preparing statements: %w", err)
		}
	}
	return &st, nil
}

func (st *stmts) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.accountID, st.lookupMailbox, st.accountsGen, st.openMessage,
		st.wLookupMailbox, st.insertBlob, st.insertMessage, st.updateMailbox} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
