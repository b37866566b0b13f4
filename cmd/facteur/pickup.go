package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"facteur/internal/address"
	"facteur/internal/ctl"
	"facteur/internal/envelope"
	"facteur/internal/maildrop"
	"facteur/internal/maillog"
	"facteur/internal/smtp"
	"facteur/internal/smtpd"
)

// pickupInterval is how often the pickup scans the maildrop when nobody
// kicks it: files are left there by sendmail while the server was down,
// or when it could not take them.
const pickupInterval = 5 * time.Second

// rcptPolicy is what the pickup asks of policy for each recipient; a nil
// client is a local submission.
type rcptPolicy interface {
	Recipient(ctx context.Context, client *envelope.Client, rcpt address.Address) ([]*envelope.Recipient, *smtp.Reply)
}

// pickup is the server's side of sendmail (Postfix's pickup(8)): messages
// that come over the control socket, and those found in the maildrop,
// enter the queue through cleanup as local submissions.
//
// Who submitted: the control socket is owner-only, so today every
// submission comes from the server's own uid (or root). Letting other
// users submit later means a socket (or maildrop) open to them, and the
// uid taken from SO_PEERCRED (ctl's peer check), never from the request.
type pickup struct {
	dir   string // DATA_DIRECTORY/maildrop
	pol   rcptPolicy
	sink  smtpd.Sink
	smtpd *smtpd.Server // for -bs sessions; nil refuses them
	log   *maillog.Logger
	debug *slog.Logger
	kick  chan struct{}
	now   func() time.Time
}

// startPickup registers sendmail's operations on the control socket and
// starts the pickup, which takes what waits in the maildrop into the queue
// at once, then every pickupInterval and on "pickup.kick", until ctx ends.
func (s *server) startPickup(ctx context.Context, wg *sync.WaitGroup, srv *ctl.Server) error {
	p := &pickup{
		dir:   dataPath(s.cfg, "maildrop"),
		pol:   s.pol,
		sink:  s.sink,
		smtpd: s.smtpd,
		log:   s.log.Service("pickup"),
		debug: s.debug,
		kick:  make(chan struct{}, 1),
		now:   time.Now,
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("creating the maildrop: %w", err)
	}
	p.register(srv)
	wg.Go(func() { p.run(ctx) })
	return nil
}

func (p *pickup) register(srv *ctl.Server) {
	srv.HandleStream(opSubmit, p.handleSubmit)
	srv.HandleStream(opSMTP, p.handleSMTP)
	srv.Handle(opKick, func(context.Context, []string, io.Writer) error {
		p.wake()
		return nil
	})
}

func (p *pickup) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// handleSubmit takes one message from sendmail. It answers with the queue
// ID only after the queue's commit: sendmail's exit status 0 means durable.
// An error that is an SMTP reply starts with its code, so that sendmail
// tells a refusal (5xx: exit 65) from a failure worth a retry (the message
// then waits in the maildrop).
func (p *pickup) handleSubmit(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: sendmail.submit ENVELOPE-JSON")
	}
	var de maildrop.Envelope
	if err := json.Unmarshal([]byte(args[0]), &de); err != nil {
		return fmt.Errorf("501 5.5.4 malformed envelope: %v", err)
	}
	if err := de.Check(); err != nil {
		return fmt.Errorf("501 5.5.4 malformed envelope: %v", err)
	}
	id, err := p.submit(ctx, &de, io.LimitReader(in, de.Size))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", id)
	return err
}

// submit queues one message and returns its queue ID. A refused
// recipient (unknown user...) does not refuse the message: as Postfix
// does for sendmail, it is queued as bounced, and the sender gets a
// notice. A temporary refusal of any recipient refuses the whole
// submission, to be tried again.
func (p *pickup) submit(ctx context.Context, de *maildrop.Envelope, content io.Reader) (string, error) {
	env := &envelope.Envelope{Body: de.Body, Client: envelope.Client{Local: true, Protocol: "local"}}
	if env.Body == "" {
		env.Body = "7BIT"
	}
	if de.Sender != "" {
		a, err := address.Parse(de.Sender)
		if err != nil {
			return "", smtp.NewReply(553, "5.1.7", "Bad sender address syntax: "+de.Sender)
		}
		env.Sender = a.String()
		env.SMTPUTF8 = a.NeedsSMTPUTF8()
	}
	var bounced []*envelope.Recipient
	for _, r := range de.Recipients {
		a, err := address.Parse(r)
		if err != nil {
			return "", smtp.NewReply(553, "5.1.3", "Bad recipient address syntax: "+r)
		}
		env.SMTPUTF8 = env.SMTPUTF8 || a.NeedsSMTPUTF8()
		rcpts, reply := p.pol.Recipient(ctx, nil, a)
		switch {
		case reply == nil:
			env.Recipients = append(env.Recipients, rcpts...)
		case reply.Temporary():
			return "", reply
		default:
			rc := &envelope.Recipient{Addr: a.String(), Final: a.String(), Transport: envelope.TransportLocal,
				State: envelope.Bounced, LastReply: lastReply(reply), Attempts: 1}
			env.Recipients = append(env.Recipients, rc)
			bounced = append(bounced, rc)
		}
	}
	if !p.sink.SpaceOK() {
		return "", smtp.NewReply(452, "4.3.1", "Insufficient system storage")
	}
	m, err := p.sink.Begin(ctx, env)
	if err != nil {
		return "", fmt.Errorf("queue: %w", err)
	}
	defer m.Abort() // after Commit, does nothing
	p.log.Event(m.ID(), "uid=%d from=<%s>", de.UID, env.Sender)
	n, err := io.Copy(m, content)
	if err == nil && n != de.Size {
		err = fmt.Errorf("message of %d bytes, envelope says %d", n, de.Size)
	}
	if err != nil {
		return "", fmt.Errorf("reading the message: %w", err)
	}
	if err := m.Commit(ctx); err != nil {
		return "", err
	}
	for _, r := range bounced {
		p.log.Event(m.ID(), "to=<%s>, relay=none, delay=0, dsn=%s, status=bounced (%s)",
			r.Addr, strings.Fields(r.LastReply)[0], r.LastReply)
	}
	return m.ID(), nil
}

// lastReply is a refusal as the queue keeps a recipient's last reply:
// enhanced code and text.
func lastReply(r *smtp.Reply) string {
	enh := r.Enhanced
	if enh == "" {
		enh = "5.0.0"
	}
	return strings.TrimSpace(enh + " " + strings.Join(r.Lines, " "))
}

// run scans the maildrop until ctx ends.
func (p *pickup) run(ctx context.Context) {
	t := time.NewTicker(pickupInterval)
	defer t.Stop()
	for {
		p.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
	}
}

// scan submits every file of the maildrop, oldest first.
func (p *pickup) scan(ctx context.Context) {
	names, err := maildrop.List(p.dir)
	if err != nil {
		p.log.Warn("maildrop: %v", err)
		return
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		p.pickOne(ctx, name)
	}
}

// pickOne submits one maildrop file and removes it after the queue's
// commit. A crash between the two leaves the file, which is submitted
// again at the next start: a duplicate delivery at worst, never a loss.
func (p *pickup) pickOne(ctx context.Context, name string) {
	f, err := maildrop.Open(p.dir, name)
	switch {
	case errors.Is(err, maildrop.ErrCorrupt):
		p.quarantine(name, err)
		return
	case err != nil:
		p.log.Warn("maildrop file %s: %v", name, err)
		return
	}
	id, err := p.submit(ctx, &f.Envelope, f.Content)
	f.Close()
	var reply *smtp.Reply
	switch {
	case errors.As(err, &reply) && reply.Permanent():
		p.quarantine(name, err)
		return
	case err != nil:
		p.log.Warn("maildrop file %s: %v; will try again", name, err)
		return
	}
	if err := maildrop.Remove(p.dir, name); err != nil {
		p.log.Warn("%s: maildrop file %s queued but not removed (it may be delivered twice): %v", id, name, err)
	}
}

func (p *pickup) quarantine(name string, why error) {
	if err := maildrop.Quarantine(p.dir, name); err != nil {
		p.log.Warn("maildrop file %s: %v; moving it aside failed: %v", name, why, err)
		return
	}
	p.log.Warn("maildrop file %s moved to %s/: %v", name, maildrop.CorruptDir, why)
}

// handleSMTP runs an SMTP session (sendmail -bs) over the request: the
// payload is what the client sends, the output its replies. The session
// has no client address, so smtpd takes it for a local one.
func (p *pickup) handleSMTP(ctx context.Context, _ []string, in io.Reader, out io.Writer) error {
	if p.smtpd == nil {
		return errors.New("no SMTP service")
	}
	conn := newStreamConn(in, out)
	defer conn.Close()
	p.smtpd.ServeConn(ctx, conn)
	return nil
}

// streamConn is a net.Conn over a byte stream in each direction: a
// control request's payload and output, or sendmail's standard input and
// output. Reads honour deadlines and Close, which smtpd relies on for its
// timeouts and shutdown; writes go straight through.
type streamConn struct {
	out    io.Writer
	chunks chan []byte // from the reader goroutine; closed at the input's end
	rerr   error       // the input's error, set before chunks is closed
	buf    []byte      // what the last chunk has left

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed when the deadline changes
	closed   chan struct{}
	once     sync.Once
}

func newStreamConn(in io.Reader, out io.Writer) *streamConn {
	c := &streamConn{out: out, chunks: make(chan []byte), changed: make(chan struct{}), closed: make(chan struct{})}
	go c.pump(in)
	return c
}

// pump reads the input until its end or Close. A Read blocked in the
// input ends when the input does (its owner closes it).
func (c *streamConn) pump(in io.Reader) {
	defer close(c.chunks)
	for {
		b := make([]byte, 32<<10)
		n, err := in.Read(b)
		if n > 0 {
			select {
			case c.chunks <- b[:n]:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			c.rerr = err
			return
		}
	}
}

func (c *streamConn) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		c.mu.Lock()
		deadline, changed := c.deadline, c.changed
		c.mu.Unlock()
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expired = t.C
		}
		select {
		case b, ok := <-c.chunks:
			if !ok {
				if c.rerr == io.EOF || c.rerr == nil {
					return 0, io.EOF
				}
				return 0, c.rerr
			}
			c.buf = b
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-changed:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *streamConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.out.Write(p)
}

func (c *streamConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *streamConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// LocalAddr and RemoteAddr are not IP addresses: smtpd sees a client
// without an address, a local one.
func (c *streamConn) LocalAddr() net.Addr  { return streamAddr{} }
func (c *streamConn) RemoteAddr() net.Addr { return streamAddr{} }

type streamAddr struct{}

func (streamAddr) Network() string { return "stream" }
func (streamAddr) String() string  { return "local" }
