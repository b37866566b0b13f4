// Package store owns facteur's mailboxes: accounts, mailboxes, messages,
// flags and UIDs. It knows no protocol; imapd, pop3d and deliver/local
// declare the interfaces they need and this package satisfies them.
//
// The embedded implementation keeps metadata in SQLite (store.db, WAL mode,
// synchronous=FULL) and message content in blob files (blobs/XX/NAME) under
// one directory. The SQL is kept portable so that a server database can
// take the same schema later; no SQLite type appears in the API.
//
// RFCs whose data model the schema follows:
//   - RFC 9051 and RFC 3501 (IMAP4): UID, UIDVALIDITY, UIDNEXT, flags,
//     internal date, INBOX naming.
//   - RFC 7162 (CONDSTORE): per-message MODSEQ and per-mailbox HIGHESTMODSEQ.
//   - RFC 6154 (SPECIAL-USE): \Sent, \Drafts, \Trash, \Junk, \Archive.
//   - RFC 9106 (Argon2) with the PHC string format for password hashes;
//     bcrypt hashes are also verified.
//
// Writes of new mail go through one committer goroutine that groups every
// delivery finished while it was busy into one transaction (group commit),
// so the delivery rate is not bounded by the disk's fsync rate. A
// delivery's content is written and fsync'd, or hard-linked from a file
// that is durable already (a committed queue file), with no copy and no
// second fsync. The statements run for every delivery are prepared once.
// A blob file that no row names (a crash between a blob and its commit) is
// removed by a background sweep (Options.SweepOrphans) once it is an hour
// old.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"facteur/internal/safeio"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

var (
	// ErrExists is returned when creating an account or mailbox that exists.
	ErrExists = errors.New("already exists")
	// ErrNotFound is returned when an account, mailbox or message is missing.
	ErrNotFound = errors.New("not found")
	// ErrInvalid is returned for a malformed account, mailbox or flag name.
	ErrInvalid = errors.New("invalid name")
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = errors.New("store closed")
)

// Options tunes a Store. The zero value of each field selects its default.
type Options struct {
	// Argon2Time, Argon2MemoryKiB and Argon2Threads are the argon2id cost
	// of new password hashes (defaults 2, 19456 KiB, 1: the OWASP
	// recommendation). Existing hashes keep the cost they were made with.
	Argon2Time      uint32
	Argon2MemoryKiB uint32
	Argon2Threads   uint8
	// BusyTimeout is how long a statement waits for another process's
	// lock before failing (default 10s).
	BusyTimeout time.Duration
	// MaxBatch bounds the deliveries in one group commit (default 512).
	MaxBatch int
	// Readers is the size of the reader connection pool (default 8).
	Readers int
	// AccountsRefresh is how often, at most, UserExists checks whether
	// another process deleted accounts (default DefaultAccountsRefresh):
	// such a deletion is seen within this period. Accounts added by any
	// process, and changes made through this Store, are seen at once.
	AccountsRefresh time.Duration
	// Now is the clock (default time.Now). The orphan-blob sweep also
	// reads it to tell how old a blob file is.
	Now func() time.Time
	// Debug is the structured debug log (default: discarded). The sweep
	// of orphan blob files logs each removal to it.
	Debug *slog.Logger
	// SweepOrphans starts, at Open, the background sweep of blob files
	// that no row names. The server sets it; a command that only reads
	// the store leaves maintenance to the server.
	SweepOrphans bool

	// sweepHook, if set, runs in the sweep goroutine before the sweep;
	// tests use it to hold the sweep while Close runs.
	sweepHook func(ctx context.Context)
}

func (o Options) withDefaults() Options {
	if o.Argon2Time == 0 {
		o.Argon2Time = 2
	}
	if o.Argon2MemoryKiB == 0 {
		o.Argon2MemoryKiB = 19456
	}
	if o.Argon2Threads == 0 {
		o.Argon2Threads = 1
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.Readers <= 0 {
		o.Readers = 8
	}
	if o.AccountsRefresh <= 0 {
		o.AccountsRefresh = DefaultAccountsRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Debug == nil {
		o.Debug = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is an open mail store. Its methods are safe for concurrent use.
type Store struct {
	dir       string
	opt       Options
	wdb       *sql.DB // exactly one connection: every write goes through it
	rdb       *sql.DB // query-only pool for reads
	st        *stmts  // hot statements, prepared once
	reqs      chan *commitReq
	quit      chan struct{}
	done      chan struct{}
	close     sync.Once
	stopSweep context.CancelFunc                  // stops the orphan-blob sweep
	swept     chan struct{}                       // closed when the sweep has returned
	seq       atomic.Uint64                       // makes blob names unique within this process
	dummy     string                              // hash verified for unknown users, to cost the same time
	dummyOnce sync.Once                           // made at the first unknown user: argon2id takes 19 MiB and tens of ms
	link      func(oldname, newname string) error // os.Link; tests make it fail

	accounts accountCache // the account names, for UserExists
	watch    watchers     // Watch's channels
}

// Open opens (creating if needed) the store under dir with default Options.
func Open(dir string) (*Store, error) {
	return OpenWith(dir, Options{})
}

// OpenWith opens (creating if needed) the store under dir.
func OpenWith(dir string, opt Options) (*Store, error) {
	opt = opt.withDefaults()
	if err := safeio.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s := &Store{
		dir:  dir,
		opt:  opt,
		reqs: make(chan *commitReq),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		link: os.Link,
	}
	s.accounts.refresh = opt.AccountsRefresh
	if err := s.openDBs(); err != nil {
		return nil, err
	}
	if _, err := s.refreshAccounts(context.Background(), time.Now()); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	go s.committer()
	if opt.SweepOrphans {
		s.startSweep()
	}
	return s, nil
}

// startSweep runs sweepOrphans in the background; Close stops it and
// waits for it.
func (s *Store) startSweep() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSweep, s.swept = cancel, make(chan struct{})
	go func() {
		defer close(s.swept)
		if s.opt.sweepHook != nil {
			s.opt.sweepHook(ctx)
		}
		s.sweepOrphans(ctx)
	}()
}

func (s *Store) openDBs() error {
	path := filepath.Join(s.dir, "store.db")
	common := fmt.Sprintf("?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL",
		s.opt.BusyTimeout.Milliseconds())
	wdb, err := sql.Open("sqlite", path+common+"&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := createSchema(context.Background(), wdb); err != nil {
		wdb.Close()
		return fmt.Errorf("opening %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", path+common+"&_query_only=1")
	if err != nil {
		wdb.Close()
		return fmt.Errorf("opening %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(s.opt.Readers)
	rdb.SetMaxIdleConns(s.opt.Readers)
	st, err := prepareStmts(context.Background(), rdb, wdb)
	if err != nil {
		rdb.Close()
		wdb.Close()
		return fmt.Errorf("opening %s: %w", path, err)
	}
	s.wdb, s.rdb, s.st = wdb, rdb, st
	return nil
}

// closeDBs closes the prepared statements, then both pools.
func (s *Store) closeDBs() error {
	return errors.Join(s.st.close(), s.rdb.Close(), s.wdb.Close())
}

// Close stops the committer and the orphan-blob sweep, waits for both, and
// closes the database. Deliveries not yet handed to the committer fail
// with ErrClosed.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		if s.stopSweep != nil {
			s.stopSweep()
		}
		close(s.quit)
		<-s.done
		if s.swept != nil {
			<-s.swept
		}
		err = s.closeDBs()
	})
	return err
}

// blobPath returns the file of the blob stored under name ("XX/NAME").
func (s *Store) blobPath(name string) string {
	return filepath.Join(s.dir, "blobs", filepath.FromSlash(name))
}
