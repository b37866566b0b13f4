// Package queue owns facteur's durable mail queue and its queue manager:
// Postfix's cleanup→incoming/active hand-off and qmgr's scheduling in one
// place.
//
// A message is queued as a content file under msg/XX/ID and an envelope with
// per-recipient state in queue.db (SQLite, WAL, synchronous=FULL). Commit
// acknowledges only what is on stable storage, as RFC 5321 §4.5.3.1 and
// §6.1 require before the server answers 250: the content file is fsync'd in
// the caller's goroutine, then one committer goroutine batches every commit
// that arrives while it is busy (group commit: one transaction for many
// messages, with the fsync of their directories running beside it).
//
// Delivery results are at least once: a pass's recipient updates and the
// removal of a finished message are recorded with the committer's next
// transaction, after the transport's Deliver has returned. A crash before
// that transaction delivers those recipients again; it never loses one.
//
// The manager hands each due recipient to the Transport named by
// envelope.Recipient.Transport, records one result per recipient (RFC 3464
// §2.3: delivery status is per recipient), retries deferred recipients with
// exponential backoff and bounces them after maximal_queue_lifetime
// (RFC 5321 §4.5.4.1: give up after at least 4-5 days). The package knows no
// protocol and no mailbox format.
package queue

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

	"golang.org/x/sys/unix"

	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/safeio"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Defaults, Postfix's own.
const (
	DefaultMinBackoff     = 300 * time.Second  // minimal_backoff_time
	DefaultMaxBackoff     = 4000 * time.Second // maximal_backoff_time
	DefaultRunDelay       = 300 * time.Second  // queue_run_delay
	DefaultMaxLifetime    = 5 * 24 * time.Hour // maximal_queue_lifetime
	DefaultBounceLifetime = 5 * 24 * time.Hour // bounce_queue_lifetime
	DefaultConcurrency    = 20
	DefaultDrainTimeout   = 30 * time.Second
)

// ErrClosed is returned by operations on a closed queue.
var ErrClosed = errors.New("queue closed")

// ErrNotFound is returned by Get for an unknown queue ID.
var ErrNotFound = errors.New("no such queue entry")

// Notifier sends the delivery status notices (RFC 3464) the queue owes
// for msg. With delay set, a delay notice for rcpts, which are deferred.
// Otherwise the final notice once every recipient is final: a bounced
// recipient "failed", a delivered one as its Action says ("delivered",
// "relayed"). When it returns nil the notice is durably queued.
type Notifier interface {
	Notify(ctx context.Context, msg *Message, delay bool, rcpts []*envelope.Recipient) error
}

// Options configure a Queue. Zero durations take Postfix's defaults.
type Options struct {
	MinBackoff     time.Duration // minimal_backoff_time
	MaxBackoff     time.Duration // maximal_backoff_time
	RunDelay       time.Duration // queue_run_delay
	MaxLifetime    time.Duration // maximal_queue_lifetime
	BounceLifetime time.Duration // bounce_queue_lifetime: for null-sender mail

	MinFree     int64 // bytes that must stay free under the queue directory
	Concurrency int   // messages in delivery at once

	// DrainTimeout bounds how long deliveries under way may go on once
	// Run's context ends; 0 = DefaultDrainTimeout.
	DrainTimeout time.Duration

	Log   *maillog.Logger
	Debug *slog.Logger
	Now   func() time.Time // nil = time.Now

	// DelayWarning is delay_warning_time: how long a message waits before
	// its sender gets one delay notice; 0 sends none.
	DelayWarning time.Duration

	Notifier Notifier // nil: no notices, and bounced recipients stay in the queue

	settleDelay time.Duration // 0 = settleDelay; tests lengthen it
	scanLimit   int           // 0 = scanLimit; tests shorten it
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.RunDelay, DefaultRunDelay)
	def(&o.MaxLifetime, DefaultMaxLifetime)
	def(&o.BounceLifetime, DefaultBounceLifetime)
	def(&o.settleDelay, settleDelay)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.scanLimit <= 0 {
		o.scanLimit = scanLimit
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Log == nil {
		o.Log = maillog.New(nil)
	}
	if o.Debug == nil {
		o.Debug = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// freshCap bounds the hand-off of new messages from Commit to the manager;
// what does not fit is found by the next scan of the database.
const freshCap = 256

// Queue is a durable mail queue in one directory.
type Queue struct {
	dir    string
	msgDir string // dir/msg, clean
	db     *sql.DB
	st     *stmts
	opt    Options
	qmgr   *maillog.Logger
	ids    idGen

	dirMu sync.Mutex
	dirs  map[string]bool // msg/XX directories known to exist
	bufs  sync.Pool       // *bufio.Writer of finished Files

	reqs   chan *request // to the committer; unbuffered
	reaps  chan reapJob  // from the committer to the reaper
	reaped chan struct{} // closed when the reaper has exited

	settleMu     sync.Mutex
	settling     []settlement   // waiting for the next transaction
	unsettled    map[string]int // settlements waiting per message
	settleClosed bool           // the committer took its last ones
	settleWake   chan struct{}  // tells the committer settling grew
	stop         chan struct{}  // closed by Close
	committed    chan struct{}  // closed when the committer has exited
	fresh        *handoff       // committed messages, for the manager
	kick         chan struct{}  // an operator changed the queue: scan again
	flushing     atomic.Bool    // and with the kick, forget failed destinations
	closeOnce    sync.Once
	readOnly     bool
}

// Open opens (creating if needed) the queue in dir and starts its committer.
func Open(dir string, opt Options) (*Queue, error) {
	opt.setDefaults()
	for _, d := range []string{dir, filepath.Join(dir, "msg"), filepath.Join(dir, "corrupt")} {
		if err := safeio.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("opening queue: %w", err)
		}
	}
	db, err := openDB(filepath.Join(dir, "queue.db"), false)
	if err != nil {
		return nil, err
	}
	// Every delivery in progress may read at once; idle connections keep
	// their prepared statements.
	db.SetMaxIdleConns(opt.Concurrency + 2)
	st, err := prepareStmts(db, false)
	if err != nil {
		db.Close()
		return nil, err
	}
	q := &Queue{
		dir: dir, msgDir: filepath.Join(dir, "msg"), db: db, st: st, opt: opt, qmgr: opt.Log.Service("qmgr"),
		ids:        newIDGen(opt.Now),
		dirs:       make(map[string]bool),
		reqs:       make(chan *request),
		reaps:      make(chan reapJob, 64),
		reaped:     make(chan struct{}),
		unsettled:  make(map[string]int),
		settleWake: make(chan struct{}, 1),
		stop:       make(chan struct{}),
		committed:  make(chan struct{}),
		fresh:      newHandoff(freshCap),
		kick:       make(chan struct{}, 1),
	}
	go q.reaper()
	go q.committer()
	return q, nil
}

// OpenReader opens the queue in dir for reading only (List, Get,
// OpenContent), while another process may be running it.
func OpenReader(dir string) (*Queue, error) {
	path := filepath.Join(dir, "queue.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening queue: %w", err)
	}
	db, err := openDB(path, true)
	if err != nil {
		return nil, err
	}
	st, err := prepareStmts(db, true)
	if err != nil {
		db.Close()
		return nil, err
	}
	opt := Options{}
	opt.setDefaults()
	committed := make(chan struct{})
	close(committed)
	return &Queue{dir: dir, msgDir: filepath.Join(dir, "msg"), db: db, st: st, opt: opt, readOnly: true, committed: committed,
		stop: make(chan struct{})}, nil
}

// Close waits for the commits already handed over, stops the committer and
// closes the database. Stop Run (cancel its context) before calling Close.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { close(q.stop) })
	<-q.committed
	q.st.close()
	return q.db.Close()
}

// SpaceOK reports whether the file system holding the queue has at least
// Options.MinFree bytes free for unprivileged use.
func (q *Queue) SpaceOK() bool {
	if q.opt.MinFree <= 0 {
		return true
	}
	var st unix.Statfs_t
	if err := unix.Statfs(q.dir, &st); err != nil {
		q.opt.Debug.Error("statfs of queue directory", "dir", q.dir, "err", err)
		return false
	}
	return int64(st.Bavail)*int64(st.Bsize) >= q.opt.MinFree
}

func (q *Queue) now() time.Time { return q.opt.Now() }

// contentPath returns msg/XX/ID, XX being the two characters of the ID that
// change fastest in its time part, to spread files over directories.
func (q *Queue) contentPath(id string) string {
	const sep = string(filepath.Separator)
	return q.msgDir + sep + shard(id) + sep + id // one allocation
}

// shardDir returns the msg/XX directory of id.
func (q *Queue) shardDir(id string) string {
	return q.msgDir + string(filepath.Separator) + shard(id)
}
