// Command tlsload is a bounded SMTP load generator over STARTTLS (RFC 3207),
// with optional AUTH PLAIN (RFC 4954, RFC 4616), for benchmarks on loopback.
//
// Like Postfix's smtp-source, it opens one connection per message: banner,
// EHLO, STARTTLS (the certificate is not verified), EHLO again, AUTH PLAIN
// when -auth is given, MAIL, RCPT, DATA with a message of -size bytes, QUIT.
// With -logins N it only logs in, N times: STARTTLS, EHLO, AUTH PLAIN, QUIT.
//
// Usage:
//
//	tlsload -addr 127.0.0.1:2525 -sessions 20 -count 20000 -size 5120 -to bench@bench.test [-auth user:pass]
//	tlsload -addr 127.0.0.1:587 -sessions 20 -logins 1000 -auth user:pass
//
// Output, one figure a line, in the form of ../shared/bench/smtp-load.sh:
//
//	<label> accepted_msgs_per_s=N    (or logins_per_s=N with -logins)
//	<label> accept_time_s=T          (or login_time_s=T)
//	<label> failed=N
//
// It exits 1 when any connection failed or -timeout passed before the end.
// Every dial and every connection has a deadline (-conn-timeout), and no new
// connection starts after -timeout.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type load struct {
	addr        string
	host        string // the host part of addr: the name net/smtp checks PLAIN against
	from, to    string
	user, pass  string
	body        []byte
	loginOnly   bool
	connTimeout time.Duration
}

func main() {
	var (
		l        load
		sessions = flag.Int("sessions", 20, "concurrent sessions")
		count    = flag.Int("count", 20000, "messages to send")
		logins   = flag.Int("logins", 0, "only log in this many times (STARTTLS, AUTH PLAIN, QUIT); needs -auth")
		size     = flag.Int("size", 5120, "message size in bytes, header included")
		auth     = flag.String("auth", "", "user:password for AUTH PLAIN after STARTTLS")
		timeout  = flag.Duration("timeout", 600*time.Second, "no new connection after this")
		label    = flag.String("label", "", "prefix of the output lines (default: tlsload s=SESSIONS n=COUNT)")
	)
	flag.StringVar(&l.addr, "addr", "127.0.0.1:2525", "server host:port (loopback only)")
	flag.StringVar(&l.from, "from", "load@bench.local", "envelope sender")
	flag.StringVar(&l.to, "to", "bench@bench.test", "envelope recipient")
	flag.DurationVar(&l.connTimeout, "conn-timeout", 60*time.Second, "deadline of each connection, dial included")
	flag.Parse()

	if err := l.check(*auth, *sessions, *count, *logins); err != nil {
		fmt.Fprintln(os.Stderr, "tlsload:", err)
		os.Exit(2)
	}
	n, what := *count, "msgs"
	if *logins > 0 {
		n, what, l.loginOnly = *logins, "logins", true
	} else {
		l.body = message(l.from, l.to, *size)
	}
	if *label == "" {
		*label = fmt.Sprintf("tlsload s=%d n=%d", *sessions, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	ok, failed, firstErr := l.run(ctx, *sessions, n)
	secs := time.Since(start).Seconds()

	if what == "logins" {
		fmt.Printf("%s logins_per_s=%.0f\n%s login_time_s=%.2f\n", *label, float64(ok)/secs, *label, secs)
	} else {
		fmt.Printf("%s accepted_msgs_per_s=%.0f\n%s accept_time_s=%.2f\n", *label, float64(ok)/secs, *label, secs)
	}
	fmt.Printf("%s failed=%d\n", *label, failed)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "tlsload: first error: %v\n", firstErr)
	}
	if failed > 0 || ok < int64(n) {
		os.Exit(1)
	}
}

// check validates the flags and fills l.host, l.user and l.pass.
func (l *load) check(auth string, sessions, count, logins int) error {
	host, _, err := net.SplitHostPort(l.addr)
	if err != nil {
		return fmt.Errorf("bad -addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("refusing non-loopback address %s", host)
	}
	l.host = host
	if auth != "" {
		var ok bool
		if l.user, l.pass, ok = strings.Cut(auth, ":"); !ok {
			return errors.New("-auth wants user:password")
		}
	}
	switch {
	case sessions < 1 || sessions > 1000:
		return errors.New("-sessions must be 1..1000")
	case count < 1 || count > 1000000:
		return errors.New("-count must be 1..1000000")
	case logins < 0 || logins > 1000000:
		return errors.New("-logins must be 0..1000000")
	case logins > 0 && l.user == "":
		return errors.New("-logins needs -auth")
	}
	return nil
}

// run has sessions goroutines share n connections; it returns how many
// succeeded and failed, and the first error seen.
func (l *load) run(ctx context.Context, sessions, n int) (ok, failed int64, firstErr error) {
	var (
		next     atomic.Int64
		once     sync.Once
		wg       sync.WaitGroup
		okN, bad atomic.Int64
	)
	for range sessions {
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				if err := l.one(); err != nil {
					bad.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				okN.Add(1)
			}
		})
	}
	wg.Wait()
	return okN.Load(), bad.Load(), firstErr
}

// one is a single connection: a message, or with loginOnly a login.
func (l *load) one() error {
	deadline := time.Now().Add(l.connTimeout)
	conn, err := net.DialTimeout("tcp", l.addr, l.connTimeout)
	if err != nil {
		return fmt.Errorf("dialing %s: %w", l.addr, err)
	}
	defer conn.Close()
	// The deadline of the TCP connection also bounds the TLS connection
	// StartTLS puts over it.
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("setting deadline: %w", err)
	}
	c, err := smtp.NewClient(conn, l.host)
	if err != nil {
		return fmt.Errorf("reading banner: %w", err)
	}
	if err := c.Hello("bench.local"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	// No certificate check: the servers under test use self-signed ones.
	// No session cache either, so each connection pays a full handshake,
	// as distinct clients would.
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: l.host}); err != nil {
		return fmt.Errorf("STARTTLS: %w", err)
	}
	if l.user != "" {
		if err := c.Auth(smtp.PlainAuth("", l.user, l.pass, l.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if !l.loginOnly {
		if err := l.send(c); err != nil {
			return err
		}
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}

func (l *load) send(c *smtp.Client) error {
	if err := c.Mail(l.from); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(l.to); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(l.body); err != nil {
		return fmt.Errorf("sending message: %w", err)
	}
	// Close sends the final dot and reads the reply: 250 means accepted.
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}

// message returns a message of size bytes (at least its header), lines of
// at most 78 characters ending in CRLF (RFC 5322 §2.1.1).
func message(from, to string, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\n\r\n", from, to)
	line := strings.Repeat("abcdefghij", 7) + "\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	if rest := size - b.Len(); rest > 2 {
		b.WriteString(strings.Repeat("x", rest-2) + "\r\n")
	}
	return []byte(b.String())
}
