package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"facteur/internal/dsn"
	"facteur/internal/envelope"
)

// The schema keeps to portable SQL (TEXT, BIGINT, INTEGER, no SQLite-only
// statements) so that the queue can move to PostgreSQL. Times are
// microseconds since the epoch, 0 for none.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS messages (
		id       TEXT PRIMARY KEY,
		sender   TEXT NOT NULL,
		envid    TEXT NOT NULL,
		ret      TEXT NOT NULL,
		body     TEXT NOT NULL,
		smtputf8 INTEGER NOT NULL,
		arrival  BIGINT NOT NULL,
		size     BIGINT NOT NULL,
		client   TEXT NOT NULL,
		corrupt  INTEGER NOT NULL DEFAULT 0,
		notice   TEXT NOT NULL DEFAULT '',
		held     INTEGER NOT NULL DEFAULT 0,
		warned   INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE IF NOT EXISTS recipients (
		msg_id     TEXT NOT NULL,
		idx        INTEGER NOT NULL,
		addr       TEXT NOT NULL,
		orcpt_type TEXT NOT NULL,
		orcpt_addr TEXT NOT NULL,
		notify     INTEGER NOT NULL,
		transport  TEXT NOT NULL,
		dest       TEXT NOT NULL,
		final      TEXT NOT NULL,
		state      TEXT NOT NULL,
		next_try   BIGINT NOT NULL,
		last_reply TEXT NOT NULL,
		attempts   INTEGER NOT NULL,
		relay      TEXT NOT NULL DEFAULT '',
		reply      TEXT NOT NULL DEFAULT '',
		action     TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (msg_id, idx)
	)`,
	`CREATE INDEX IF NOT EXISTS recipients_due ON recipients (state, next_try)`,
}

// columnsAdded are the columns added since the first schema, for queue
// databases made before them; adding one that exists fails harmlessly.
var columnsAdded = []string{
	`ALTER TABLE messages ADD COLUMN notice TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0`,
	`ALTER TABLE messages ADD COLUMN warned INTEGER NOT NULL DEFAULT 0`,
	`ALTER TABLE recipients ADD COLUMN relay TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE recipients ADD COLUMN reply TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE recipients ADD COLUMN action TEXT NOT NULL DEFAULT ''`,
}

func openDB(path string, readOnly bool) (*sql.DB, error) {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		v.Add("mode", "ro")
	} else {
		v.Add("_pragma", "journal_mode(WAL)")
		v.Add("_pragma", "synchronous(FULL)")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening queue database: %w", err)
	}
	if readOnly {
		return db, nil
	}
	for _, stmt := range schema {
		if _, err := db.Exec(stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("creating queue schema: %w", err)
		}
	}
	for _, stmt := range columnsAdded {
		if _, err := db.Exec(stmt); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, fmt.Errorf("updating queue schema: %w", err)
		}
	}
	return db, nil
}

// The statements of the queue's every message, prepared once at Open:
// SQLite parses SQL at each Prepare, which costs more than running these
// statements. database/sql prepares a statement again on each new
// connection, so Open keeps connections idle rather than closing them.
const (
	insertMsgSQL = `INSERT INTO messages
		(id, sender, envid, ret, body, smtputf8, arrival, size, client, corrupt, notice)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`
	insertRcptSQL = `INSERT INTO recipients
		(msg_id, idx, addr, orcpt_type, orcpt_addr, notify, transport, dest, final,
		 state, next_try, last_reply, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	updateRcptSQL = `UPDATE recipients SET state = ?, next_try = ?, last_reply = ?, attempts = ?,
		relay = ?, reply = ?, action = ? WHERE msg_id = ? AND idx = ?`
	deleteRcptsSQL = `DELETE FROM recipients WHERE msg_id = ?`
	deleteMsgSQL   = `DELETE FROM messages WHERE id = ?`
	markCorruptSQL = `UPDATE messages SET corrupt = 1 WHERE id = ?`
	msgColumns     = `sender, envid, ret, body, smtputf8, arrival, size, client, corrupt, notice, held, warned`
	rcptColumns    = `idx, addr, orcpt_type, orcpt_addr, notify, transport, dest, final, state, next_try,
		last_reply, attempts, relay, reply, action`
	selectMsgSQL   = `SELECT ` + msgColumns + ` FROM messages WHERE id = ?`
	selectRcptsSQL = `SELECT ` + rcptColumns + ` FROM recipients WHERE msg_id = ? ORDER BY idx`
)

// stmts holds the prepared statements; a read-only queue has only the
// SELECTs.
type stmts struct {
	insertMsg, insertRcpt, updateRcpt, deleteRcpts, deleteMsg, markCorrupt *sql.Stmt
	selectMsg, selectRcpts                                                 *sql.Stmt
}

func prepareStmts(db *sql.DB, readOnly bool) (*stmts, error) {
	s := &stmts{}
	type prep struct {
		dst   **sql.Stmt
		query string
	}
	list := []prep{{&s.selectMsg, selectMsgSQL}, {&s.selectRcpts, selectRcptsSQL}}
	if !readOnly {
		list = append(list, prep{&s.insertMsg, insertMsgSQL}, prep{&s.insertRcpt, insertRcptSQL},
			prep{&s.updateRcpt, updateRcptSQL}, prep{&s.deleteRcpts, deleteRcptsSQL},
			prep{&s.deleteMsg, deleteMsgSQL}, prep{&s.markCorrupt, markCorruptSQL})
	}
	for _, p := range list {
		st, err := db.Prepare(p.query)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("preparing queue statement: %w", err)
		}
		*p.dst = st
	}
	return s, nil
}

func (s *stmts) close() {
	for _, st := range []*sql.Stmt{s.insertMsg, s.insertRcpt, s.updateRcpt, s.deleteRcpts, s.deleteMsg,
		s.markCorrupt, s.selectMsg, s.selectRcpts} {
		if st != nil {
			st.Close()
		}
	}
}

// txWriter runs prepared statements in one transaction, binding each to
// the transaction once (a group commit repeats the same few).
type txWriter struct {
	ctx   context.Context
	tx    *sql.Tx
	st    *stmts
	bound [6]struct{ st, tx *sql.Stmt } // few statements: a scan beats a map
	n     int
}

func (w *txWriter) exec(st *sql.Stmt, args ...any) error {
	var b *sql.Stmt
	for i := range w.n {
		if w.bound[i].st == st {
			b = w.bound[i].tx
			break
		}
	}
	if b == nil {
		b = w.tx.StmtContext(w.ctx, st) // reuses st as prepared on the tx's connection
		if w.n < len(w.bound) {
			w.bound[w.n] = struct{ st, tx *sql.Stmt }{st, b}
			w.n++
		}
	}
	_, err := b.ExecContext(w.ctx, args...)
	return err
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

func insertMessage(w *txWriter, env *envelope.Envelope) error {
	client, err := json.Marshal(env.Client)
	if err != nil {
		return fmt.Errorf("encoding client of %s: %w", env.ID, err)
	}
	err = w.exec(w.st.insertMsg, env.ID, env.Sender, env.EnvID, string(env.Ret), env.Body, boolInt(env.SMTPUTF8),
		micros(env.Arrival), env.Size, string(client), env.Notice)
	if err != nil {
		return fmt.Errorf("inserting message %s: %w", env.ID, err)
	}
	for i, r := range env.Recipients {
		err := w.exec(w.st.insertRcpt, env.ID, i, r.Addr, r.ORCPT.Type, r.ORCPT.Addr, int(r.Notify), r.Transport, r.Dest, r.Final,
			string(r.State), micros(r.NextTry), r.LastReply, r.Attempts)
		if err != nil {
			return fmt.Errorf("inserting recipient of %s: %w", env.ID, err)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rcptUpdate is the new state of recipient idx of message id.
type rcptUpdate struct {
	id        string
	idx       int
	state     envelope.State
	nextTry   time.Time
	lastReply string
	attempts  int
	relay     string
	reply     string
	action    string
}

func updateRecipient(w *txWriter, u rcptUpdate) error {
	err := w.exec(w.st.updateRcpt, string(u.state), micros(u.nextTry), u.lastReply, u.attempts,
		u.relay, u.reply, u.action, u.id, u.idx)
	if err != nil {
		return fmt.Errorf("updating recipient %d of %s: %w", u.idx, u.id, err)
	}
	return nil
}

func deleteMessage(w *txWriter, id string) error {
	if err := w.exec(w.st.deleteRcpts, id); err != nil {
		return fmt.Errorf("removing recipients of %s: %w", id, err)
	}
	if err := w.exec(w.st.deleteMsg, id); err != nil {
		return fmt.Errorf("removing message %s: %w", id, err)
	}
	return nil
}

func markCorrupt(w *txWriter, id string) error {
	if err := w.exec(w.st.markCorrupt, id); err != nil {
		return fmt.Errorf("marking %s corrupt: %w", id, err)
	}
	return nil
}

// errUndecodable marks a row that exists but cannot be read back.
var errUndecodable = errors.New("undecodable queue entry")

// loadEnvelope reads message id and all its recipients, in order.
func loadEnvelope(ctx context.Context, st *stmts, id string) (*envelope.Envelope, bool, error) {
	env, corrupt, err := scanMessage(st.selectMsg.QueryRowContext(ctx, id), id)
	if err != nil {
		return nil, false, err
	}
	rows, err := st.selectRcpts.QueryContext(ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("reading recipients of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scanRecipient(rows, env); err != nil {
			return nil, false, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("reading recipients of %s: %w", id, err)
	}
	return env, corrupt, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanMessage reads the msgColumns of message id from row.
func scanMessage(row scanner, id string) (*envelope.Envelope, bool, error) {
	env := &envelope.Envelope{ID: id}
	var ret, client string
	var utf8, corrupt, held, warned int
	var arrival int64
	err := row.Scan(&env.Sender, &env.EnvID, &ret, &env.Body, &utf8, &arrival, &env.Size, &client, &corrupt,
		&env.Notice, &held, &warned)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading message %s: %w", id, err)
	}
	env.Ret, env.SMTPUTF8, env.Arrival = dsn.Ret(ret), utf8 != 0, fromMicros(arrival)
	env.Held, env.DelayWarned = held != 0, warned != 0
	if err := json.Unmarshal([]byte(client), &env.Client); err != nil {
		return nil, false, fmt.Errorf("%w: %s: client: %v", errUndecodable, id, err)
	}
	return env, corrupt != 0, nil
}

// scanRecipient reads the rcptColumns of the next recipient of env from
// row and appends it; recipients come in index order.
func scanRecipient(row scanner, env *envelope.Envelope) error {
	idx, r, err := scanRecipientRow(row)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUndecodable, env.ID, err)
	}
	return addRecipient(env, idx, r)
}

// scanRecipientRow reads the rcptColumns of one row.
func scanRecipientRow(row scanner, prefix ...any) (int, *envelope.Recipient, error) {
	r := &envelope.Recipient{}
	var idx, notify int
	var state string
	var next int64
	err := row.Scan(append(prefix, &idx, &r.Addr, &r.ORCPT.Type, &r.ORCPT.Addr, &notify, &r.Transport, &r.Dest,
		&r.Final, &state, &next, &r.LastReply, &r.Attempts, &r.Relay, &r.Reply, &r.Action)...)
	r.Notify, r.State, r.NextTry = dsn.Notify(notify), envelope.State(state), fromMicros(next)
	return idx, r, err
}

// addRecipient appends r, read as recipient idx of env, after checking it.
func addRecipient(env *envelope.Envelope, idx int, r *envelope.Recipient) error {
	switch {
	case idx != len(env.Recipients):
		return fmt.Errorf("%w: %s: recipient %d missing", errUndecodable, env.ID, len(env.Recipients))
	case r.State != envelope.Pending && r.State != envelope.Deferred && !r.State.Final():
		return fmt.Errorf("%w: %s: recipient state %q", errUndecodable, env.ID, r.State)
	}
	env.Recipients = append(env.Recipients, r)
	return nil
}

// dueIDs returns up to limit messages after ID after ("" for all) with a
// recipient pending or deferred until now or earlier, oldest first.
func dueIDs(ctx context.Context, db *sql.DB, now time.Time, after string, limit int) ([]string, error) {
	return queryIDs(ctx, db, `SELECT DISTINCT r.msg_id FROM recipients r JOIN messages m ON m.id = r.msg_id
		WHERE r.msg_id > ? AND m.corrupt = 0 AND m.held = 0 AND (r.state = 'pending' OR (r.state = 'deferred' AND r.next_try <= ?))
		ORDER BY r.msg_id LIMIT ?`, after, micros(now), limit)
}

// finishedIDs returns up to limit messages after ID after ("" for all)
// whose every recipient is final and that the queue should finish: all
// delivered (removal was cut short), or, when withBounced, some bounced
// (the notice is still owed).
func finishedIDs(ctx context.Context, db *sql.DB, withBounced bool, after string, limit int) ([]string, error) {
	open := `'pending', 'deferred'`
	if !withBounced {
		open += `, 'bounced'`
	}
	return queryIDs(ctx, db, `SELECT m.id FROM messages m WHERE m.id > ? AND m.corrupt = 0 AND m.held = 0 AND NOT EXISTS
		(SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND r.state IN (`+open+`))
		ORDER BY m.id LIMIT ?`, after, limit)
}

func queryIDs(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("scanning queue: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scanning queue: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scanning queue: %w", err)
	}
	return ids, nil
}
