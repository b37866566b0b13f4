package store

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is stored in meta; a newer on-disk schema is refused, an
// older one is brought up to date by migrations.
const schemaVersion = 3

// schema is portable SQL: INTEGER PRIMARY KEY is SQLite's row id and would
// become an identity column elsewhere; everything else is standard.
//
// Message counts, UIDNEXT and HIGHESTMODSEQ live in the mailbox row so that
// delivery never scans messages (no COUNT(*) or MAX() on the hot path).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS meta (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS accounts (
		id       INTEGER PRIMARY KEY,
		name     TEXT NOT NULL UNIQUE,
		password TEXT NOT NULL,
		created  INTEGER NOT NULL
	)`,
	// RFC 9051 §2.3.1.1: UIDVALIDITY and UIDNEXT; RFC 7162 §3: HIGHESTMODSEQ;
	// RFC 6154 §2: special_use.
	`CREATE TABLE IF NOT EXISTS mailboxes (
		id            INTEGER PRIMARY KEY,
		account_id    INTEGER NOT NULL,
		name          TEXT NOT NULL,
		uidvalidity   INTEGER NOT NULL,
		uidnext       INTEGER NOT NULL,
		highestmodseq INTEGER NOT NULL,
		messages      INTEGER NOT NULL,
		subscribed    INTEGER NOT NULL,
		special_use   TEXT NOT NULL,
		UNIQUE (account_id, name)
	)`,
	// refs counts the message rows pointing at the blob; the file goes
	// when it reaches zero. A blob with one message row has no row here
	// (most mail has one local recipient: a delivery then writes two
	// B-tree pages fewer); whatever adds a second message row to such a
	// blob inserts its row with refs = 2.
	`CREATE TABLE IF NOT EXISTS blobs (
		name TEXT PRIMARY KEY,
		size INTEGER NOT NULL,
		refs INTEGER NOT NULL
	)`,
	// size is len(prefix) + blob size; flags are space-separated.
	// header is the message's header section (prefix included) when it
	// fits in maxHeaderCapture, for IMAP's ENVELOPE and header fetches
	// without opening the blob (Headers); NULL otherwise.
	// delivery_key, NULL when none was given, makes a repeated delivery a
	// no-op (Delivery.AddKeyed; unique per mailbox: messagesKeyIndex).
	`CREATE TABLE IF NOT EXISTS messages (
		mailbox_id    INTEGER NOT NULL,
		uid           INTEGER NOT NULL,
		blob          TEXT NOT NULL,
		prefix        BLOB NOT NULL,
		flags         TEXT NOT NULL,
		modseq        INTEGER NOT NULL,
		internal_date INTEGER NOT NULL,
		size          INTEGER NOT NULL,
		hdr_from      TEXT NOT NULL,
		hdr_to        TEXT NOT NULL,
		subject       TEXT NOT NULL,
		hdr_date      TEXT NOT NULL,
		message_id    TEXT NOT NULL,
		delivery_key  TEXT,
		header        BLOB,
		PRIMARY KEY (mailbox_id, uid)
	)`,
	`CREATE INDEX IF NOT EXISTS messages_modseq ON messages (mailbox_id, modseq)`,
	// expunged remembers which UIDs left a mailbox and at which
	// mod-sequence, so that a session learns of another's expunges
	// (Changes) without listing the whole mailbox (RFC 7162 §3.2.10 gives
	// an expunge a mod-sequence of its own).
	`CREATE TABLE IF NOT EXISTS expunged (
		mailbox_id INTEGER NOT NULL,
		uid        INTEGER NOT NULL,
		modseq     INTEGER NOT NULL,
		PRIMARY KEY (mailbox_id, uid)
	)`,
	`CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (mailbox_id, modseq)`,
	`INSERT INTO meta (name, value) SELECT 'uidvalidity', 0
		WHERE NOT EXISTS (SELECT 1 FROM meta WHERE name = 'uidvalidity')`,
	// accounts_gen grows with every change of the accounts, so that a
	// process caching the names sees another's changes (accountset.go).
	`INSERT INTO meta (name, value) SELECT 'accounts_gen', 0
		WHERE NOT EXISTS (SELECT 1 FROM meta WHERE name = 'accounts_gen')`,
	// A new store has the current schema (every store has had this row
	// since version 1): this literal follows schemaVersion.
	`INSERT INTO meta (name, value) SELECT 'schema', 3
		WHERE NOT EXISTS (SELECT 1 FROM meta WHERE name = 'schema')`,
}

// migrations[v] brings a schema of version v+1 to version v+2.
var migrations = [][]string{
	{`ALTER TABLE messages ADD COLUMN delivery_key TEXT`},
	// Version 3 adds the expunged table, which the schema creates, and
	// the header column, NULL in older rows (Headers reads their blobs).
	{`ALTER TABLE messages ADD COLUMN header BLOB`},
}

// indexes are made once migrations have added the columns they cover.
var indexes = []string{
	// Unique, so that a delivery key is delivered once per mailbox; the
	// NULLs of unkeyed messages never clash (SQL: NULLs are distinct).
	`CREATE UNIQUE INDEX IF NOT EXISTS messages_delivery_key ON messages (mailbox_id, delivery_key)`,
}

func createSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	defer tx.Rollback()
	for _, q := range schema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("creating schema: %w", err)
		}
	}
	if err := migrate(ctx, tx); err != nil {
		return err
	}
	for _, q := range indexes {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("creating schema: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	return nil
}

// migrate brings the schema read from meta up to schemaVersion, in the
// caller's transaction: a failed step leaves the store as it was.
func migrate(ctx context.Context, tx *sql.Tx) error {
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'schema'`).Scan(&v); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		for _, q := range migrations[v-1] {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrating schema to version %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE name = 'schema'`, schemaVersion); err != nil {
		return fmt.Errorf("migrating schema: %w", err)
	}
	return nil
}
