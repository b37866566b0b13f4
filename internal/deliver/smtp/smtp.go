// Package smtp is facteur's outbound SMTP client, in the manner of
// Postfix's smtp(8): it takes the recipients that policy sent to remote
// destinations and hands each message to the next hop.
//
//   - Next hop: transport_maps, then relayhost, then the recipient domain
//     by MX lookup (RFC 5321 §5.1), with implicit MX, null MX (RFC 7505)
//     and the loop rule that drops the MX records at or above our own
//     preference.
//   - Session: greeting, EHLO (HELO when EHLO is refused), STARTTLS
//     (RFC 3207) by smtp_tls_security_level, and the extensions PIPELINING
//     (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8
//     (RFC 6531), DSN (RFC 3461) and ENHANCEDSTATUSCODES (RFC 2034, codes
//     of RFC 3463); a deadline on every read and write, with Postfix's
//     timeouts (RFC 5321 §4.5.3.2).
//   - Per recipient results: the next hop's own reply, with its enhanced
//     status code, or what went wrong with the connection.
//   - Per destination: a limit on concurrent sessions, a cache of idle
//     connections for the next message, and a cool-down for destinations
//     that cannot be reached, as Postfix's qmgr keeps.
//
// It implements queue.Transport.
package smtp

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"facteur/internal/config"
	"facteur/internal/dns"
	"facteur/internal/envelope"
	"facteur/internal/maillog"
	"facteur/internal/queue"
)

// Defaults, Postfix's.
const (
	DefaultPort                   = 25
	DefaultDestinationConcurrency = 20                // default_destination_concurrency_limit
	DefaultCooldown               = 300 * time.Second // how long a dead destination stays dead
	DefaultConnCacheTime          = 2 * time.Second   // smtp_connection_cache_time_limit
	DefaultConnectTimeout         = 30 * time.Second  // smtp_connect_timeout
	DefaultHeloTimeout            = 300 * time.Second // smtp_helo_timeout
	DefaultMailTimeout            = 300 * time.Second // smtp_mail_timeout
	DefaultRcptTimeout            = 300 * time.Second // smtp_rcpt_timeout
	DefaultDataInitTimeout        = 120 * time.Second // smtp_data_init_timeout
	DefaultDataXferTimeout        = 180 * time.Second // smtp_data_xfer_timeout
	DefaultDataDoneTimeout        = 600 * time.Second // smtp_data_done_timeout
	DefaultQuitTimeout            = 300 * time.Second // smtp_quit_timeout
	DefaultStartTLSTimeout        = 300 * time.Second // smtp_starttls_timeout
)

// Limits per delivery, Postfix's defaults, and the recipients per
// transaction (Postfix's default_destination_recipient_limit).
const (
	maxAddresses   = 5  // smtp_mx_address_limit: addresses tried
	maxSessions    = 2  // smtp_mx_session_limit: sessions that got past EHLO
	maxTxnRcpts    = 50 // RCPT commands in one transaction
	maxRsetTimeout = 20 * time.Second
)

// The values of smtp_tls_security_level that facteur tells apart.
const (
	TLSNone    = "none"
	TLSMay     = "may"
	TLSEncrypt = "encrypt"
)

// Options are the client's parameters. Zero values take the defaults
// above; a negative ConnCacheTime or Cooldown turns the feature off.
type Options struct {
	Hostname   string           // myhostname: EHLO argument, and loop detection
	Resolver   dns.Resolver     // MX and address lookups
	Relayhost  config.Relayhost // zero: deliver by MX
	Transports config.Table     // transport_maps, may be nil
	// TLSLevel is smtp_tls_security_level: "none", "may" (the default) or
	// "encrypt"; Postfix's stricter levels ("dane", "verify", "secure",
	// ...) are taken as "encrypt".
	TLSLevel string
	// TLSConfig is the base client configuration, cloned for each
	// session; nil means the default. As Postfix's may and encrypt levels
	// do, the certificate is not verified (encryption, not
	// authentication) unless TLSConfig holds RootCAs.
	TLSConfig *tls.Config
	// LocalAddrs returns this server's own addresses: an MX that resolves
	// to one of them is ourselves. Nil means the addresses of the
	// machine's interfaces.
	LocalAddrs func() []netip.Addr
	// Port is the port of every MX host, and of a next hop that names
	// port 25 or none: 25 but in tests.
	Port int

	DestinationConcurrency int           // sessions per next hop at once
	Cooldown               time.Duration // how long a next hop that failed at connection level gets immediate deferrals

	ConnectTimeout, HeloTimeout, MailTimeout, RcptTimeout, DataInitTimeout,
	DataXferTimeout, DataDoneTimeout, QuitTimeout, StartTLSTimeout time.Duration

	ConnCacheTime time.Duration // how long an idle connection is kept for the next message

	// TempDir is where a large body part waits while it is converted to 7
	// bit; "" means os.TempDir(). facteur gives one under data_directory.
	TempDir string

	Log   *maillog.Logger  // the mail log; the queue writes the delivery lines
	Debug *slog.Logger     // details of sessions and failures
	Now   func() time.Time // the clock; nil means time.Now
}

// Client delivers messages to next hops over SMTP. It is safe for
// concurrent use.
type Client struct {
	opt   Options
	debug *slog.Logger
	log   *maillog.Logger

	mu        sync.Mutex
	dests     map[string]*destination
	closed    bool
	lastSweep time.Time
}

// New returns a Client with opt, defaults filled in.
func New(opt Options) *Client {
	if opt.Hostname == "" {
		opt.Hostname = "localhost"
	}
	if opt.Resolver == nil {
		opt.Resolver = dns.NewSystem(nil)
	}
	opt.TLSLevel = tlsLevel(opt.TLSLevel)
	if opt.LocalAddrs == nil {
		opt.LocalAddrs = interfaceAddrs
	}
	if opt.Port <= 0 {
		opt.Port = DefaultPort
	}
	if opt.DestinationConcurrency <= 0 {
		opt.DestinationConcurrency = DefaultDestinationConcurrency
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&opt.Cooldown, DefaultCooldown}, {&opt.ConnCacheTime, DefaultConnCacheTime},
		{&opt.ConnectTimeout, DefaultConnectTimeout}, {&opt.HeloTimeout, DefaultHeloTimeout},
		{&opt.MailTimeout, DefaultMailTimeout}, {&opt.RcptTimeout, DefaultRcptTimeout},
		{&opt.DataInitTimeout, DefaultDataInitTimeout}, {&opt.DataXferTimeout, DefaultDataXferTimeout},
		{&opt.DataDoneTimeout, DefaultDataDoneTimeout}, {&opt.QuitTimeout, DefaultQuitTimeout},
		{&opt.StartTLSTimeout, DefaultStartTLSTimeout},
	}
	for _, d := range defaults {
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Log
	if log == nil {
		log = maillog.New(nil)
	}
	debug := opt.Debug
	if debug == nil {
		debug = slog.New(slog.DiscardHandler)
	}
	return &Client{opt: opt, debug: debug, log: log.Service("smtp"), dests: make(map[string]*destination)}
}

// tlsLevel maps smtp_tls_security_level to the levels facteur has.
func tlsLevel(s string) string {
	switch s {
	case TLSNone:
		return TLSNone
	case "", TLSMay:
		return TLSMay
	}
	return TLSEncrypt
}

// interfaceAddrs returns the addresses of the machine's interfaces.
func interfaceAddrs() []netip.Addr {
	ifas, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var addrs []netip.Addr
	for _, a := range ifas {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			addrs = append(addrs, p.Addr().Unmap())
		}
	}
	return addrs
}

// content is what delivery reads of a queued message; *queue.Message
// satisfies it, and so does a test's.
type content interface {
	Open() (io.ReadCloser, error)
}

// message is a queued message: its envelope and its content.
type message struct {
	env *envelope.Envelope
	content
}

// Deliver delivers msg to rcpts and returns one result per recipient, in
// order. It implements queue.Transport.
func (c *Client) Deliver(ctx context.Context, msg *queue.Message, rcpts []*envelope.Recipient) []queue.Result {
	return c.deliver(ctx, message{env: msg.Env, content: msg}, rcpts)
}

func (c *Client) deliver(ctx context.Context, msg message, rcpts []*envelope.Recipient) []queue.Result {
	results := make([]queue.Result, len(rcpts))
	groups := c.route(msg.env, rcpts, results)
	if len(groups) == 1 {
		c.deliverGroup(ctx, msg, groups[0], results)
		return results
	}
	// Next hops are independent: one slow destination must not hold the
	// others up.
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() { c.deliverGroup(ctx, msg, g, results) })
	}
	wg.Wait()
	return results
}

// Close closes the cached connections, each with QUIT. Deliveries under
// way are not waited for; their connections close when they end.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	var idle []*session
	for _, d := range c.dests {
		for _, ic := range d.idle {
			ic.timer.Stop()
			idle = append(idle, ic.s)
		}
		d.idle = nil
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range idle {
		wg.Go(s.quit)
	}
	wg.Wait()
	return nil
}
