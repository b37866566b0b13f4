// Package imapd is the IMAP server: each account reads and files its mail
// in its mailboxes. It runs on github.com/emersion/go-imap/v2's imapserver,
// which parses commands and writes responses, and implements its Session
// over a Store: RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1), with IDLE
// (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), NAMESPACE (RFC 2342),
// SPECIAL-USE (RFC 6154), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC
// 5819), ESEARCH (RFC 4731), STATUS=SIZE (RFC 8438), UNSELECT (RFC 3691),
// ENABLE (RFC 5161), LITERAL+ (RFC 7888), SASL-IR (RFC 4959), APPENDLIMIT
// (RFC 7889), BINARY (RFC 3516), SEARCHRES (RFC 5182), CHILDREN (RFC
// 3348), UTF8=ACCEPT (RFC 6855, as the library handles it) and STARTTLS
// (RFC 9051 §6.2.1, RFC 8314 for implicit TLS). The library offers no
// CONDSTORE (RFC 7162), though the store keeps mod-sequences.
//
// Each connection runs behind a guard (guard.go) that sees the plain text
// of the session: it enforces literal sizes before the library reads them
// (RFC 7888 §4), does STARTTLS itself and answers CAPABILITY before login,
// so that what is announced depends on TLS and on the client's address.
//
// The mail store is behind the Store interface, which cmd/facteur adapts;
// imapd never imports a storage implementation.
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"time"

	"facteur/internal/limiter"
	"facteur/internal/maillog"
)

// Mailbox describes one mailbox of an account. Size, Unseen and Deleted
// are filled by Store.Mailbox only.
type Mailbox struct {
	Name          string // "INBOX", or a path with "/" between levels
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int
	Subscribed    bool
	SpecialUse    string // RFC 6154 attribute, e.g. `\Sent`, or ""
	Size          int64
	Unseen        int
	Deleted       int
}

// Message is one message's metadata.
type Message struct {
	UID          uint32
	InternalDate time.Time
	Size         int64 // octets as OpenMessage returns them (RFC822.SIZE)
	Flags        []string
	ModSeq       uint64
	// The first such header fields, unfolded, RFC 2047 words decoded in
	// From, To and Subject; possibly clipped.
	From, To, Subject, Date, MessageID string
}

// FlagOp is how SetFlags changes flags.
type FlagOp int

// The flag operations of STORE (RFC 9051 §6.4.6).
const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// CopyResult pairs the source UIDs with the UIDs they got in the
// destination, in source UID order (RFC 4315 COPYUID).
type CopyResult struct {
	UIDValidity uint32
	Source      []uint32
	Dest        []uint32
}

// Changes is what happened to a mailbox after a mod-sequence.
type Changes struct {
	Messages      []Message // new or with changed flags, UID order
	Expunged      []uint32  // ascending
	HighestModSeq uint64
	UIDNext       uint32
	UIDValidity   uint32
}

// Errors a Store returns, matched with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid name")
)

// Store is the mail store as IMAP sees it: the mailboxes of each account.
// Mailbox names are those of the store ("" or any case of INBOX is INBOX,
// "/" separates levels); it refuses names that could leave the account
// with ErrInvalid.
type Store interface {
	// Authenticate checks a password and returns the account's canonical
	// name.
	Authenticate(ctx context.Context, user, password string) (account string, ok bool, err error)
	// Mailboxes lists an account's mailboxes, INBOX first.
	Mailboxes(ctx context.Context, account string) ([]Mailbox, error)
	// Mailbox describes one mailbox with its Size, Unseen and Deleted.
	Mailbox(ctx context.Context, account, name string) (Mailbox, error)
	CreateMailbox(ctx context.Context, account, name string) error
	// DeleteMailbox removes a mailbox and its messages, not its children.
	DeleteMailbox(ctx context.Context, account, name string) error
	// RenameMailbox renames a mailbox and its children (RFC 9051 §6.3.6).
	RenameMailbox(ctx context.Context, account, from, to string) error
	Subscribe(ctx context.Context, account, name string, on bool) error
	// Messages lists a mailbox's messages in UID order.
	Messages(ctx context.Context, account, mailbox string) ([]Message, error)
	// Matching lists, with their UID and header fields only, the messages
	// whose field ("from", "to" or "subject") contains needle (ASCII
	// letters without case) or was clipped in the cache: a superset of
	// the matches, which SEARCH narrows down.
	Matching(ctx context.Context, account, mailbox, field, needle string) ([]Message, error)
	// Index is Messages without the header fields (From to MessageID),
	// which SELECT does not need: cheaper for a large mailbox.
	// The HIGHESTMODSEQ returned is the mailbox's when listed: every later
	// change is above it.
	Index(ctx context.Context, account, mailbox string) ([]Message, uint64, error)
	// OpenMessage returns a message's bytes, Message.Size of them.
	OpenMessage(ctx context.Context, account, mailbox string, uid uint32) (io.ReadCloser, error)
	// Headers calls fn in UID order with the header section of each
	// message among uids (nil: all; UIDs not there are skipped), as
	// OpenMessage's bytes start, through the empty line that ends it (the
	// whole message when it has no body). fn must not keep header.
	Headers(ctx context.Context, account, mailbox string, uids []uint32, fn func(uid uint32, header []byte) error) error
	// SetFlags changes the flags of uids (nil: all) and returns the new
	// mod-sequence, 0 when nothing changed.
	SetFlags(ctx context.Context, account, mailbox string, uids []uint32, op FlagOp, flags []string) (uint64, error)
	// Expunge removes the messages flagged \Deleted among uids (nil: all)
	// and returns their UIDs.
	Expunge(ctx context.Context, account, mailbox string, uids []uint32) ([]uint32, error)
	// Append stores a message durably; a zero date means now.
	Append(ctx context.Context, account, mailbox string, r io.Reader, flags []string, date time.Time) (uidValidity, uid uint32, err error)
	Copy(ctx context.Context, account, from string, uids []uint32, to string) (CopyResult, error)
	// Move is Copy and the removal of the sources in one transaction.
	Move(ctx context.Context, account, from string, uids []uint32, to string) (CopyResult, error)
	// Changes returns what changed in a mailbox above a mod-sequence.
	Changes(ctx context.Context, account, mailbox string, since uint64) (Changes, error)
	// Watch returns a channel that receives when the mailbox may have
	// changed, and the function that stops the watch.
	Watch(account, mailbox string) (<-chan struct{}, func(), error)
}

// Config is the server's configuration.
type Config struct {
	// Hostname is named in the greeting.
	Hostname string
	// TLS serves STARTTLS and implicit TLS; nil offers neither.
	TLS *tls.Config
	// PlaintextLoopbackOnly is disable_plaintext_auth: LOGIN and
	// AUTHENTICATE only under TLS or from a loopback address.
	PlaintextLoopbackOnly bool
	// AppendLimit is message_size_limit, the largest APPEND (RFC 7889);
	// 0 means 50 MiB.
	AppendLimit int64
	// WriteTimeout bounds the wait for a client to take each write of a
	// response; 0 means one minute.
	WriteTimeout time.Duration
	// Failures counts failed logins per client address; nil makes one of
	// 10 failures in 300s.
	Failures *limiter.Limiter
	// FailureDelay is paused before each failed login's reply, times the
	// address's failures in the window; 0 means no pause.
	FailureDelay time.Duration
	Log          *maillog.Logger // nil discards
	Debug        *slog.Logger    // nil discards
}

const (
	defaultAppendLimit  = 50 << 20
	defaultWriteTimeout = time.Minute
	// maxAppendLimit is what APPENDLIMIT can announce (a 32-bit number in
	// the library).
	maxAppendLimit = 1<<32 - 1
)

func (c *Config) setDefaults() {
	if c.Hostname == "" {
		c.Hostname = "localhost"
	}
	if c.AppendLimit <= 0 {
		c.AppendLimit = defaultAppendLimit
	}
	c.AppendLimit = min(c.AppendLimit, maxAppendLimit)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.Failures == nil {
		c.Failures = limiter.New(10, 300*time.Second, time.Now)
	}
	if c.Log == nil {
		c.Log = maillog.New(nil)
	}
	c.Log = c.Log.Service("imapd")
	if c.Debug == nil {
		c.Debug = slog.New(slog.DiscardHandler)
	}
}
