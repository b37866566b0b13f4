// Package envelope is the SMTP envelope of a message as facteur keeps it
// from reception to delivery: the sender, each recipient with its RFC 3461
// parameters and its delivery state, and what is known of the client.
// smtpd fills it, cleanup and queue keep it, the transports read it.
package envelope

import (
	"net/netip"
	"time"

	"facteur/internal/dsn"
)

// Envelope is one message's envelope.
type Envelope struct {
	ID     string // queue ID, set by the queue
	Sender string // MAIL FROM address, "" for the null sender <>

	Recipients []*Recipient

	EnvID    string  // RFC 3461 ENVID, decoded
	Ret      dsn.Ret // RFC 3461 RET
	Body     string  // "7BIT", "8BITMIME" or "BINARYMIME" (RFC 6152, RFC 3030)
	SMTPUTF8 bool    // RFC 6531

	Arrival time.Time
	Size    int64 // bytes of the message as queued (trace fields included)

	Client Client

	// Notice is set on a delivery status notice that facteur made:
	// NoticePostmaster for the failure of a null-sender message, sent to
	// the postmaster and never the subject of another notice.
	Notice      string
	Held        bool // on hold: not delivered until released
	DelayWarned bool // the delay notice was sent
}

// Kinds of Envelope.Notice.
const (
	NoticeSender     = "sender"     // a notice to the original sender
	NoticePostmaster = "postmaster" // a null-sender message's failure, to the postmaster
)

// Client is what the receiving side knew of the peer.
type Client struct {
	Helo     string     // HELO or EHLO argument
	Addr     netip.Addr // zero for local submission (sendmail)
	Name     string     // verified reverse name, "" when unknown
	Protocol string     // "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA", "UTF8SMTP", ... (RFC 3848)
	TLS      string     // "TLS1.3 TLS_AES_128_GCM_SHA256", "" without TLS
	AuthUser string     // authenticated account, "" when none
	Local    bool       // from mynetworks or authenticated: cleanup may add Message-ID and Date
}

// State is a recipient's delivery state in the queue.
type State string

const (
	Pending   State = "pending"   // not tried yet
	Deferred  State = "deferred"  // tried, will be tried again at NextTry
	Delivered State = "delivered" // done
	Bounced   State = "bounced"   // failed for good; a notice is owed to the sender
)

// Final reports whether s ends the recipient's delivery.
func (s State) Final() bool { return s == Delivered || s == Bounced }

// Transports that a recipient can be handed to.
const (
	TransportLocal = "local" // deliver/local: a mailbox, a |command or a /file
	TransportSMTP  = "smtp"  // deliver/smtp: a remote address
)

// Recipient is one envelope recipient after resolution.
type Recipient struct {
	Addr   string    // the address the client gave at RCPT TO, normalised
	ORCPT  dsn.ORCPT // RFC 3461 ORCPT, zero when not given
	Notify dsn.Notify

	// Where the message goes, decided by policy at RCPT time.
	Transport string // TransportLocal or TransportSMTP
	// Dest is, for local: the account name ("toto", "bob@example.org"),
	// "|command" or "/path/to/mbox"; for smtp: the remote address.
	Dest string
	// Final is the address after alias expansion, as written into
	// Delivered-To (RFC 9228) for a mailbox delivery.
	Final string

	State     State
	NextTry   time.Time // when Deferred
	LastReply string    // last result, "550 5.1.1 ..." style, for queue list and bounces
	Attempts  int
	// Relay is where the last attempt went, "mx.example.org[192.0.2.1]:25",
	// "local" or "none"; Reply is that host's own reply to it, "" when
	// this system decided (queue.Result.Reply).
	Relay string
	Reply string
	// Action is the success notice owed once the message is done (RFC
	// 3464 §2.3.3): "delivered" or "relayed" for a recipient delivered with
	// NOTIFY=SUCCESS, "" for none.
	Action string
}
