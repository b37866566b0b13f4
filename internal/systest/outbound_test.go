package systest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"facteur/internal/dns/dnstest"
	"facteur/internal/dsn"
)

// The tests of this file run two facteurs: A on 127.0.0.1 sends for its
// users and for the clients of its mynetworks; B on 127.0.0.2 receives for
// remote.test, which a DNS server on loopback gives to it by MX. Sinks on
// 127.0.0.3 (sink_test.go) play the next hops that misbehave.

// wait bounds every wait of these tests: generous, never a measure.
const wait = 30 * time.Second

// startRemote starts B, the next hop for remote.test, with accounts
// bob and carol, and returns it with its SMTP port.
func startRemote(t *testing.T, extra ...string) (*System, string) {
	t.Helper()
	conf := []string{
		"smtpd_listen = 127.0.0.2:0",
		"myhostname = mx.remote.test",
		"mydestination = $myhostname, remote.test",
	}
	b := Start(t, bin, append(conf, extra...)...)
	b.AddUser("bob", "pw")
	b.AddUser("carol", "pw")
	_, port, err := net.SplitHostPort(b.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	return b, port
}

// remoteDNS starts a DNS server that gives remote.test to B.
func remoteDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	d := dnstest.Start(t)
	d.MX("remote.test", 10, "mx.remote.test")
	d.A("mx.remote.test", "127.0.0.2")
	return d
}

// startSender starts A: delivering by MX (Start's default relayhost
// undone) unless extra says otherwise, resolving with d (nil: the
// system's resolver), connecting to MX hosts on port, without TLS (B has
// none).
func startSender(t *testing.T, d *dnstest.Server, port string, extra ...string) *System {
	t.Helper()
	conf := []string{"relayhost =", "smtp_tls_security_level = none"}
	if d != nil {
		conf = append(conf, "dns_nameservers = "+d.Addr())
	}
	if port != "" {
		conf = append(conf, "smtp_port = "+port)
	}
	return Start(t, bin, append(conf, extra...)...)
}

// transportMaps writes a texthash table of lines and returns the
// transport_maps setting that names it.
func transportMaps(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transport")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return "transport_maps = texthash:" + path
}

// submit sends one message to s over SMTP from 127.0.0.1 and returns its
// queue ID. A recipient may carry RCPT parameters after a space:
// "a@b NOTIFY=NEVER". The body is dot-stuffed here.
func submit(t *testing.T, s *System, from string, rcpts []string, body string) string {
	t.Helper()
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	c.cmd("MAIL FROM:<"+from+">", "250 ")
	for _, r := range rcpts {
		addr, params, _ := strings.Cut(r, " ")
		line := "RCPT TO:<" + addr + ">"
		if params != "" {
			line += " " + params
		}
		c.cmd(line, "250 ")
	}
	c.cmd("DATA", "354 ")
	fmt.Fprintf(c.c, "%s.\r\n", dotStuff(body))
	got := c.expect("250 2.0.0 Ok: queued as ")
	c.cmd("QUIT", "221 ")
	return strings.TrimPrefix(got, "250 2.0.0 Ok: queued as ")
}

// dotStuff doubles the dot that starts a line (RFC 5321 §4.5.2).
func dotStuff(body string) string {
	if strings.HasPrefix(body, ".") {
		body = "." + body
	}
	return strings.ReplaceAll(body, "\r\n.", "\r\n..")
}

// run runs a facteur command on s and fails t on error.
func run(t *testing.T, s *System, args ...string) string {
	t.Helper()
	out, err := s.Run("", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// count returns the number of messages in an account's INBOX.
func count(t *testing.T, s *System, account string) int {
	t.Helper()
	out := run(t, s, "mailbox", "count", account)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("mailbox count printed %q", out)
	}
	return n
}

// waitCount waits until account's INBOX holds at least n messages.
func waitCount(t *testing.T, s *System, account string, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for count(t, s, account) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d messages, want %d, after %v\n%s", account, count(t, s, account), n, wait, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logLines returns the lines of s's output that hold every one of parts,
// from offset on.
func logLines(s *System, offset int, parts ...string) []string {
	var out []string
	for _, line := range strings.Split(s.Log()[offset:], "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			out = append(out, line)
		}
	}
	return out
}

// waitLine waits for a line of s's output that holds every one of parts
// and returns it.
func waitLine(t *testing.T, s *System, parts ...string) string {
	t.Helper()
	return waitLineAfter(t, s, 0, parts...)
}

// waitLineAfter is waitLine for the output from offset on.
func waitLineAfter(t *testing.T, s *System, offset int, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		if lines := logLines(s, offset, parts...); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q after %v:\n%s", parts, wait, s.Log()[offset:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitQueue waits until `facteur queue list` shows every one of parts and
// returns the listing.
func waitQueue(t *testing.T, s *System, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		out := run(t, s, "queue", "list")
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(out, p) }) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue list lacks %q after %v:\n%s", parts, wait, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noticeRE finds the notices the bounce service logs for a message:
// "ID: sender non-delivery notification: NOTICEID".
var noticeRE = regexp.MustCompile(`: ([0-9A-Za-z]+): (sender|postmaster) (non-delivery|delay|delivery status) notification: ([0-9A-Za-z]+)`)

// notices returns the queue IDs of the notices logged for message id.
func notices(s *System, id string) []string {
	var out []string
	for _, m := range noticeRE.FindAllStringSubmatch(s.Log(), -1) {
		if m[1] == id {
			out = append(out, m[4])
		}
	}
	return out
}

// settled waits until message id has left A's queue, then until each of
// its notices has (delivered, since they go to local accounts), and
// returns the notices' IDs. Once it returns, no notice for id is on its
// way.
func settled(t *testing.T, s *System, id string) []string {
	t.Helper()
	waitLine(t, s, id+": removed")
	ids := notices(s, id)
	for _, n := range ids {
		waitLine(t, s, n+": removed")
	}
	return ids
}

// notice is a delivery status notification as a mailbox holds it.
type notice struct {
	raw string
	*dsn.Parsed
}

// readNotice reads message uid of account's INBOX and parses it as a
// notice.
func readNotice(t *testing.T, s *System, account string, uid int) notice {
	t.Helper()
	raw := run(t, s, "mailbox", "cat", account, strconv.Itoa(uid))
	p, err := dsn.ParseReport(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("message %d of %s is not a notice: %v\n%s", uid, account, err, raw)
	}
	return notice{raw: raw, Parsed: p}
}

// header returns the value of the first header field name of n.
func (n notice) header(name string) string {
	head, _, _ := strings.Cut(n.raw, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkFromDaemon checks that n has the null Return-Path and comes from
// MAILER-DAEMON.
func checkFromDaemon(t *testing.T, n notice) {
	t.Helper()
	if !strings.HasPrefix(n.raw, "Return-Path: <>\r\n") {
		t.Errorf("notice does not start with Return-Path: <>:\n%s", n.raw)
	}
	if from := n.header("From"); !strings.Contains(from, "MAILER-DAEMON@") {
		t.Errorf("notice From: %q, want MAILER-DAEMON", from)
	}
}

// recipient returns the report's block for addr.
func (n notice) recipient(t *testing.T, addr string) dsn.RecipientStatus {
	t.Helper()
	for _, r := range n.Report.Recipients {
		if strings.EqualFold(r.FinalRecipient, addr) {
			return r
		}
	}
	t.Fatalf("notice has no recipient %s: %+v\n%s", addr, n.Report.Recipients, n.raw)
	return dsn.RecipientStatus{}
}

// TestOutboundByMX is A delivering by MX to B and to the sink, and the
// notices that come back to A's senders.
func TestOutboundByMX(t *testing.T) {
	t.Parallel()
	b, port := startRemote(t)
	d := remoteDNS(t)
	d.MX("null.test", 0, ".") // RFC 7505
	d.MX("loop.test", 10, "mx.loop.test")
	d.A("mx.loop.test", "127.0.0.1")               // A itself
	plain := startSink(t, sinkScript{})            // a next hop without DSN
	withDSN := startSink(t, sinkScript{DSN: true}) // and one with
	a := startSender(t, d, port, transportMaps(t,
		fmt.Sprintf("plain.test smtp:[127.0.0.3]:%d", plain.Port),
		fmt.Sprintf("dsn.test smtp:[127.0.0.3]:%d", withDSN.Port)))
	for _, u := range []string{"toto", "titi", "fail", "never", "succ", "rcv", "rel"} {
		a.AddUser(u, "pw")
	}

	t.Run("relay", func(t *testing.T) {
		t.Parallel()
		body := "First line.\r\n" +
			".a line that starts with a dot\r\n" +
			"..and one with two\r\n" +
			"\r\n" +
			"  indented, with a trailing space \r\n" +
			"\ttab\r\n" +
			".\r\n" +
			"last line\r\n"
		id := submit(t, a, "pascal@example.org", []string{"bob@remote.test"},
			"Subject: relay by MX\r\nFrom: pascal@example.org\r\n\r\n"+body)
		waitCount(t, b, "bob", 1)
		msg := run(t, b, "mailbox", "cat", "bob", "1")
		head, got, ok := strings.Cut(msg, "\r\n\r\n")
		if !ok || got != body {
			t.Errorf("body at B:\n%q\nwant:\n%q", got, body)
		}
		if !strings.Contains(head, "by mail.example.test (facteur) with ESMTP id "+id) {
			t.Errorf("B's copy lacks A's Received field:\n%s", head)
		}
		if !strings.Contains(head, "Return-Path: <pascal@example.org>") {
			t.Errorf("B's copy lacks the sender as Return-Path:\n%s", head)
		}
		line := waitLine(t, a, id+": to=<bob@remote.test>", "status=sent")
		if want := "relay=mx.remote.test[127.0.0.2]:" + port; !strings.Contains(line, want) {
			t.Errorf("delivery line %q lacks %q", line, want)
		}
		if n := settled(t, a, id); len(n) != 0 {
			t.Errorf("a delivered message got notices %v", n)
		}
	})

	t.Run("bounce", func(t *testing.T) {
		t.Parallel()
		id := submit(t, a, "toto@example.test", []string{"nobody@remote.test"},
			"Subject: to nobody\r\nMessage-ID: <bounce-me@example.test>\r\n\r\nlost\r\n")
		waitLine(t, a, id+": to=<nobody@remote.test>", "status=bounced")
		if n := settled(t, a, id); len(n) != 1 {
			t.Fatalf("notices for %s: %v, want one", id, n)
		}
		if got := count(t, a, "toto"); got != 1 {
			t.Fatalf("toto has %d messages, want the one notice", got)
		}
		n := readNotice(t, a, "toto", 1)
		checkFromDaemon(t, n)
		r := n.recipient(t, "nobody@remote.test")
		if r.Action != dsn.ActionFailed || r.Status != "5.1.1" || r.RemoteMTA != "mx.remote.test" {
			t.Errorf("Action %q, Status %q, Remote-MTA %q; want failed, 5.1.1, mx.remote.test", r.Action, r.Status, r.RemoteMTA)
		}
		if !strings.HasPrefix(r.DiagnosticCode, "550 5.1.1 ") {
			t.Errorf("Diagnostic-Code %q does not quote B's 550 5.1.1", r.DiagnosticCode)
		}
		if n.OriginalType != "message/rfc822" || !bytes.Contains(n.Original, []byte("Message-ID: <bounce-me@example.test>")) ||
			!bytes.Contains(n.Original, []byte("\r\n\r\nlost\r\n")) {
			t.Errorf("original not attached (%q):\n%s", n.OriginalType, n.Original)
		}
	})

	t.Run("several failures, one notice", func(t *testing.T) {
		t.Parallel()
		id := submit(t, a, "titi@example.test", []string{"nobody1@remote.test", "carol@remote.test", "nobody2@remote.test"},
			"Subject: to three\r\n\r\nthree\r\n")
		if n := settled(t, a, id); len(n) != 1 {
			t.Fatalf("notices for %s: %v, want one", id, n)
		}
		if got := count(t, a, "titi"); got != 1 {
			t.Fatalf("titi has %d messages, want the one notice", got)
		}
		n := readNotice(t, a, "titi", 1)
		if len(n.Report.Recipients) != 2 {
			t.Errorf("notice lists %d recipients, want the 2 that failed:\n%s", len(n.Report.Recipients), n.raw)
		}
		for _, addr := range []string{"nobody1@remote.test", "nobody2@remote.test"} {
			if r := n.recipient(t, addr); r.Action != dsn.ActionFailed || r.Status != "5.1.1" {
				t.Errorf("%s: Action %q, Status %q", addr, r.Action, r.Status)
			}
		}
		waitLine(t, a, id+": to=<carol@remote.test>", "status=sent")
		waitCount(t, b, "carol", 1)
	})

	t.Run("no next hop", func(t *testing.T) {
		t.Parallel()
		cases := []struct{ rcpt, status, text string }{
			{"x@null.test", "5.1.10", "does not accept mail (null MX)"},
			{"x@nxdomain.test", "5.1.2", "Host or domain name not found"},
			{"x@loop.test", "5.4.6", "loops back to myself"},
		}
		var ids []string
		for _, c := range cases {
			ids = append(ids, submit(t, a, "fail@example.test", []string{c.rcpt}, "Subject: to "+c.rcpt+"\r\n\r\nx\r\n"))
		}
		for i, c := range cases {
			// relay=none: decided without a connection.
			line := waitLine(t, a, ids[i]+": to=<"+c.rcpt+">", "status=bounced")
			for _, want := range []string{"relay=none", "dsn=" + c.status, c.text} {
				if !strings.Contains(line, want) {
					t.Errorf("%s: line %q lacks %q", c.rcpt, line, want)
				}
			}
			settled(t, a, ids[i])
		}
		if got := count(t, a, "fail"); got != len(cases) {
			t.Fatalf("fail has %d notices, want %d", got, len(cases))
		}
		seen := map[string]bool{}
		for uid := 1; uid <= len(cases); uid++ {
			n := readNotice(t, a, "fail", uid)
			checkFromDaemon(t, n)
			for _, c := range cases {
				for _, r := range n.Report.Recipients {
					if r.FinalRecipient != c.rcpt {
						continue
					}
					seen[c.rcpt] = true
					if r.Action != dsn.ActionFailed || r.Status != c.status {
						t.Errorf("%s: Action %q, Status %q, want failed, %s", c.rcpt, r.Action, r.Status, c.status)
					}
				}
			}
		}
		for _, c := range cases {
			if !seen[c.rcpt] {
				t.Errorf("no notice names %s", c.rcpt)
			}
		}
	})

	t.Run("NOTIFY=NEVER", func(t *testing.T) {
		t.Parallel()
		never := submit(t, a, "never@example.test", []string{"nobody@remote.test NOTIFY=NEVER"}, "Subject: quiet\r\n\r\nx\r\n")
		waitLine(t, a, never+": to=<nobody@remote.test>", "status=bounced")
		if n := settled(t, a, never); len(n) != 0 {
			t.Errorf("NOTIFY=NEVER got notices %v", n)
		}
		// A second failure, notified, shows that notices reach never:
		// once it is there, the first one would be too.
		loud := submit(t, a, "never@example.test", []string{"nobody@remote.test"}, "Subject: loud\r\n\r\nx\r\n")
		if n := settled(t, a, loud); len(n) != 1 {
			t.Fatalf("notices for %s: %v, want one", loud, n)
		}
		if got := count(t, a, "never"); got != 1 {
			t.Fatalf("never has %d messages, want 1 (the notice of the second message)", got)
		}
		if n := readNotice(t, a, "never", 1); !bytes.Contains(n.Original, []byte("Subject: loud")) {
			t.Errorf("the notice is not that of the second message:\n%s", n.raw)
		}
	})

	t.Run("NOTIFY=SUCCESS", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name, from, rcpt string
			action           dsn.Action
		}{
			{"local", "succ", "rcv@example.test", dsn.ActionDelivered},
			{"next hop without DSN", "rel", "x@plain.test", dsn.ActionRelayed},
		}
		for _, c := range cases {
			id := submit(t, a, c.from+"@example.test", []string{c.rcpt + " NOTIFY=SUCCESS,FAILURE"}, "Subject: tell me\r\n\r\nx\r\n")
			waitLine(t, a, id+": to=<"+c.rcpt+">", "status=sent")
			if n := settled(t, a, id); len(n) != 1 {
				t.Fatalf("%s: notices for %s: %v, want one", c.name, id, n)
			}
			if got := count(t, a, c.from); got != 1 {
				t.Fatalf("%s: %s has %d messages, want the one notice", c.name, c.from, got)
			}
			n := readNotice(t, a, c.from, 1)
			checkFromDaemon(t, n)
			if r := n.recipient(t, c.rcpt); r.Action != c.action || !strings.HasPrefix(r.Status, "2.") {
				t.Errorf("%s: Action %q, Status %q, want %s, 2.x.x", c.name, r.Action, r.Status, c.action)
			}
		}
		if got := plain.Accepted(); len(got) != 1 || !slices.Equal(got[0].To, []string{"x@plain.test"}) {
			t.Errorf("the sink took %+v, want one message to x@plain.test", got)
		}

		// A next hop with DSN takes the request on (RFC 3461 §5.2.2): A
		// passes NOTIFY and ORCPT to it and sends no notice itself.
		id := submit(t, a, "succ@example.test", []string{"x@dsn.test NOTIFY=SUCCESS"}, "Subject: tell me\r\n\r\nx\r\n")
		waitLine(t, a, id+": to=<x@dsn.test>", "status=sent")
		if n := settled(t, a, id); len(n) != 0 {
			t.Errorf("notices for %s: %v, want none: the next hop reports", id, n)
		}
		got := withDSN.Accepted()
		if len(got) != 1 || len(got[0].Rcpts) != 1 || !strings.Contains(got[0].Rcpts[0], " NOTIFY=SUCCESS") ||
			!strings.Contains(got[0].Rcpts[0], " ORCPT=rfc822;x@dsn.test") {
			t.Errorf("the sink with DSN took %+v, want one RCPT with NOTIFY=SUCCESS and ORCPT", got)
		}
	})

	t.Run("null sender", func(t *testing.T) {
		t.Parallel()
		id := submit(t, a, "", []string{"nobody3@remote.test"}, "Subject: a notice that bounces\r\n\r\nx\r\n")
		waitLine(t, a, id+": to=<nobody3@remote.test>", "status=bounced")
		if n := settled(t, a, id); len(n) != 1 {
			t.Fatalf("notices for %s: %v, want one", id, n)
		}
		waitLine(t, a, "postmaster non-delivery notification")
		if got := count(t, a, "postmaster"); got != 1 {
			t.Fatalf("postmaster has %d messages, want the one notice", got)
		}
		list := run(t, a, "mailbox", "list", "postmaster")
		if !strings.Contains(list, "MAILER-DAEMON") {
			t.Errorf("mailbox list postmaster:\n%s", list)
		}
		n := readNotice(t, a, "postmaster", 1)
		checkFromDaemon(t, n)
		if r := n.recipient(t, "nobody3@remote.test"); r.Action != dsn.ActionFailed || r.Status != "5.1.1" {
			t.Errorf("Action %q, Status %q, want failed, 5.1.1", r.Action, r.Status)
		}
	})
}

// TestOutboundDeferred: B answers 450 to an unknown user (soft_bounce).
// A keeps the recipient deferred; when maximal_queue_lifetime is over, the
// sender gets a failure notice quoting B's last reply; after
// delay_warning_time, one delay notice while the message stays queued.
func TestOutboundDeferred(t *testing.T) {
	t.Parallel()
	_, port := startRemote(t, "soft_bounce = yes")
	d := remoteDNS(t)

	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		a := startSender(t, d, port, "maximal_queue_lifetime = 6s")
		a.AddUser("toto", "pw")
		id := submit(t, a, "toto@example.test", []string{"nobody@remote.test"}, "Subject: patience\r\n\r\nx\r\n")
		q := waitQueue(t, a, id, "nobody@remote.test [deferred]", "450 4.1.1")
		if !strings.Contains(q, "mx.remote.test[127.0.0.2] said: 450 4.1.1 ") {
			t.Errorf("queue list does not quote B's reply:\n%s", q)
		}
		expired := waitLine(t, a, id+": to=<nobody@remote.test>", "status=bounced", "message expired")
		if !strings.Contains(expired, "450 4.1.1") {
			t.Errorf("expiry line %q does not quote the last reply", expired)
		}
		if ids := settled(t, a, id); len(ids) != 1 {
			t.Fatalf("notices for %s: %v, want one", id, ids)
		}
		if out := run(t, a, "queue", "list"); strings.Contains(out, id) {
			t.Errorf("%s is still queued:\n%s", id, out)
		}
		if got := count(t, a, "toto"); got != 1 {
			t.Fatalf("toto has %d messages, want the one notice", got)
		}
		n := readNotice(t, a, "toto", 1)
		checkFromDaemon(t, n)
		r := n.recipient(t, "nobody@remote.test")
		if r.Action != dsn.ActionFailed || r.Status != "4.1.1" || !strings.HasPrefix(r.DiagnosticCode, "450 4.1.1 ") ||
			r.RemoteMTA != "mx.remote.test" {
			t.Errorf("Action %q, Status %q, Diagnostic-Code %q, Remote-MTA %q; want failed, 4.1.1 and B's 450 4.1.1",
				r.Action, r.Status, r.DiagnosticCode, r.RemoteMTA)
		}
	})

	t.Run("delay warning", func(t *testing.T) {
		t.Parallel()
		a := startSender(t, d, port, "delay_warning_time = 2s")
		a.AddUser("toto", "pw")
		id := submit(t, a, "toto@example.test", []string{"nobody@remote.test"}, "Subject: patience\r\n\r\nx\r\n")
		warned := waitLine(t, a, id+": sender delay notification")
		// Two more attempts after the notice: the message stays queued. A
		// second notice would be logged after the deferral of its pass,
		// so before the deferral of the next.
		offset := strings.Index(a.Log(), warned)
		for range 2 {
			line := waitLineAfter(t, a, offset, id+": to=<nobody@remote.test>", "status=deferred")
			offset = strings.Index(a.Log(), line) + len(line)
		}
		waitQueue(t, a, id, "nobody@remote.test [deferred]")
		ids := notices(a, id)
		if len(ids) != 1 {
			t.Fatalf("notices for %s: %v, want one delay notice", id, ids)
		}
		waitLine(t, a, ids[0]+": removed")
		if got := count(t, a, "toto"); got != 1 {
			t.Fatalf("toto has %d messages, want the one delay notice", got)
		}
		n := readNotice(t, a, "toto", 1)
		checkFromDaemon(t, n)
		r := n.recipient(t, "nobody@remote.test")
		if r.Action != dsn.ActionDelayed || r.Status != "4.1.1" || !strings.HasPrefix(r.DiagnosticCode, "450 4.1.1 ") {
			t.Errorf("Action %q, Status %q, Diagnostic-Code %q; want delayed, 4.1.1 and B's 450 4.1.1",
				r.Action, r.Status, r.DiagnosticCode)
		}
		if r.WillRetryUntil.IsZero() {
			t.Errorf("delay notice without Will-Retry-Until:\n%s", n.raw)
		}
		if n.OriginalType != "text/rfc822-headers" && n.OriginalType != "message/rfc822" {
			t.Errorf("delay notice attaches %q", n.OriginalType)
		}
	})
}

// TestOutboundConfiguredNextHop: relayhost, and transport_maps, send to B
// with no DNS at all.
func TestOutboundConfiguredNextHop(t *testing.T) {
	t.Parallel()
	b, port := startRemote(t)
	hop := "[127.0.0.2]:" + port
	for i, setting := range []string{
		"relayhost = " + hop,
		transportMaps(t, "remote.test smtp:"+hop),
	} {
		a := startSender(t, nil, "", setting)
		id := submit(t, a, "pascal@example.org", []string{"bob@remote.test"}, fmt.Sprintf("Subject: hop %d\r\n\r\nx\r\n", i))
		line := waitLine(t, a, id+": to=<bob@remote.test>", "status=sent")
		if want := "relay=127.0.0.2[127.0.0.2]:" + port; !strings.Contains(line, want) {
			t.Errorf("%s: line %q lacks %q", setting, line, want)
		}
		waitCount(t, b, "bob", i+1)
	}
}

// TestOutboundUnreliableNextHops: next hops that time out, talk nonsense,
// hang up in the middle or refuse some recipients leave each recipient
// deferred (or delivered) with a reason that says what happened, and the
// client lets go of every connection.
func TestOutboundUnreliableNextHops(t *testing.T) {
	t.Parallel()
	sinks := map[string]*sink{
		"mute.test":    startSink(t, sinkScript{Mute: true}),
		"garbage.test": startSink(t, sinkScript{Garbage: true}),
		"cut.test":     startSink(t, sinkScript{CutData: true}),
		"mixed.test": startSink(t, sinkScript{Rcpt: func(addr string) string {
			if strings.HasPrefix(addr, "later") {
				return "450 4.2.0 <" + addr + ">: mailbox busy, try later"
			}
			return ""
		}}),
	}
	var table []string
	for domain, s := range sinks {
		table = append(table, fmt.Sprintf("%s smtp:[127.0.0.3]:%d", domain, s.Port))
	}
	// A port that refuses connections: one that was free a moment ago.
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closed, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	table = append(table, "refused.test smtp:[127.0.0.3]:"+closed)
	timeouts := []string{"smtp_connect_timeout = 2s", "smtp_helo_timeout = 2s", "smtp_mail_timeout = 2s",
		"smtp_rcpt_timeout = 2s", "smtp_data_init_timeout = 2s", "smtp_data_xfer_timeout = 2s",
		"smtp_data_done_timeout = 2s", "smtp_quit_timeout = 2s"}
	a := startSender(t, nil, "", append(timeouts, transportMaps(t, table...))...)

	cases := []struct {
		rcpt, text string
		open       bool // the sink never closes: the client must
	}{
		{"x@mute.test", "timed out while performing the EHLO handshake", true},
		{"x@refused.test", "connect to 127.0.0.3[127.0.0.3]:" + closed + ": Connection refused", false},
		{"x@garbage.test", "malformed reply from 127.0.0.3[127.0.0.3] while performing the EHLO handshake", false},
		{"x@cut.test", "lost connection with 127.0.0.3[127.0.0.3] while sending", false},
		// Last, for the check of now@mixed.test below.
		{"later@mixed.test", "said: 450 4.2.0 <later@mixed.test>: mailbox busy, try later (in reply to RCPT TO command)", false},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		rcpts := []string{c.rcpt}
		if c.rcpt == "later@mixed.test" {
			rcpts = append(rcpts, "now@mixed.test")
		}
		ids[i] = submit(t, a, "pascal@example.org", rcpts, "Subject: to "+c.rcpt+"\r\n\r\nx\r\n")
	}
	for i, c := range cases {
		line := waitLine(t, a, ids[i]+": to=<"+c.rcpt+">", "status=deferred")
		if !strings.Contains(line, c.text) || !strings.Contains(line, "dsn=4.") {
			t.Errorf("%s: deferred with %q, want dsn=4.x.x and %q", c.rcpt, line, c.text)
		}
		waitQueue(t, a, ids[i], c.rcpt+" [deferred]")
	}
	// Each is tried again: the first attempt ended, nothing is stuck.
	for i, c := range cases {
		first := strings.Index(a.Log(), ids[i]+": to=<"+c.rcpt+">")
		waitLineAfter(t, a, first+1, ids[i]+": to=<"+c.rcpt+">", "status=deferred")
		if c.open {
			if _, ended := sinks[strings.SplitN(c.rcpt, "@", 2)[1]].Conns(); ended == 0 {
				t.Errorf("%s: the client let no connection go", c.rcpt)
			}
		}
	}
	// The recipient the mixed next hop took is delivered, once, and only it.
	waitLine(t, a, ids[len(ids)-1]+": to=<now@mixed.test>", "status=sent")
	if got := sinks["mixed.test"].Accepted(); len(got) != 1 || !slices.Equal(got[0].To, []string{"now@mixed.test"}) {
		t.Errorf("mixed.test took %+v, want one message to now@mixed.test", got)
	}
	for _, domain := range []string{"mute.test", "garbage.test", "cut.test"} {
		if got := sinks[domain].Accepted(); len(got) != 0 {
			t.Errorf("%s took %d messages", domain, len(got))
		}
	}
}

// TestOutboundDeadDestinationHoldsNoOther: messages to a next hop that
// accepts connections and never greets do not hold back a message to B.
func TestOutboundDeadDestinationHoldsNoOther(t *testing.T) {
	t.Parallel()
	b, port := startRemote(t)
	dead := startSink(t, sinkScript{NoGreeting: true})
	// A long greeting timeout: every message to dead.test holds its
	// session for a minute, past the bound the message to B has.
	a := startSender(t, remoteDNS(t), port, "smtp_helo_timeout = 60s",
		transportMaps(t, fmt.Sprintf("dead.test smtp:[127.0.0.3]:%d", dead.Port)))
	for i := range 5 {
		submit(t, a, "pascal@example.org", []string{fmt.Sprintf("x%d@dead.test", i)}, "Subject: to the dead\r\n\r\nx\r\n")
	}
	deadline := time.Now().Add(wait)
	for opened, _ := dead.Conns(); opened == 0; opened, _ = dead.Conns() {
		if time.Now().After(deadline) {
			t.Fatalf("no connection to dead.test after %v:\n%s", wait, a.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	submit(t, a, "pascal@example.org", []string{"bob@remote.test"}, "Subject: not held\r\n\r\nx\r\n")
	waitCount(t, b, "bob", 1)
}

// TestOutboundKill9 kills A while the next hop holds its reply to the end
// of data, and restarts it. The message was never acknowledged, so it is
// sent again, and the sink ends with exactly one acknowledged copy; the
// messages whose delivery and removal were logged before the kill are not
// sent again.
//
// The only window for a duplicate is between the next hop's 250 and the
// queue's durable record of it: a crash there makes A send again a
// message the next hop already took (at least once, never lost; RFC 5321
// §6.1). Before the 250, as here, nothing was taken; after the record,
// nothing is sent again.
func TestOutboundKill9(t *testing.T) {
	t.Parallel()
	var held atomic.Bool
	s := startSink(t, sinkScript{Hold: func(m sinkMsg) bool {
		return bytes.Contains(m.Data, []byte("Subject: held")) && held.CompareAndSwap(false, true)
	}})
	a := startSender(t, nil, "", transportMaps(t, fmt.Sprintf("hold.test smtp:[127.0.0.3]:%d", s.Port)))

	var before []string
	for i := range 2 {
		id := submit(t, a, "pascal@example.org", []string{"x@hold.test"}, fmt.Sprintf("Subject: sent %d\r\n\r\nx\r\n", i))
		waitLine(t, a, id+": to=<x@hold.test>", "status=sent")
		waitLine(t, a, id+": removed")
		before = append(before, id)
	}
	id := submit(t, a, "pascal@example.org", []string{"x@hold.test"}, "Subject: held\r\n\r\nx\r\n")
	select {
	case <-s.held:
	case <-time.After(wait):
		t.Fatalf("the sink got no message to hold after %v:\n%s", wait, a.Log())
	}
	a.Kill()
	if lines := logLines(a, 0, id+": to=<x@hold.test>"); len(lines) != 0 {
		t.Fatalf("the held message has a result before the kill: %q", lines)
	}
	s.WaitIdle(wait) // the held session ended with A

	offset := len(a.Log())
	a.Restart()
	waitLineAfter(t, a, offset, id+": to=<x@hold.test>", "status=sent")
	waitLineAfter(t, a, offset, id+": removed")
	if out := run(t, a, "queue", "list"); !strings.Contains(out, "Mail queue is empty") {
		t.Errorf("queue after the restart:\n%s", out)
	}
	subjects := map[string]int{}
	for _, m := range s.Accepted() {
		_, rest, _ := strings.Cut(string(m.Data), "Subject: ")
		subject, _, _ := strings.Cut(rest, "\r\n")
		subjects[subject]++
	}
	want := map[string]int{"sent 0": 1, "sent 1": 1, "held": 1}
	for subject, n := range want {
		if subjects[subject] != n {
			t.Errorf("the sink acknowledged %q %d times, want %d (all: %v)", subject, subjects[subject], n, subjects)
		}
	}
	for _, old := range before {
		if lines := logLines(a, offset, old+":"); len(lines) != 0 {
			t.Errorf("%s, delivered before the kill, shows up after the restart: %q", old, lines)
		}
	}
}

// TestOutboundOperatorCommands drives a running A's queue with `facteur
// queue hold, flush, release, requeue, delete` while the next hop
// refuses, then takes, its recipients.
func TestOutboundOperatorCommands(t *testing.T) {
	t.Parallel()
	var open atomic.Bool
	s := startSink(t, sinkScript{Rcpt: func(addr string) string {
		if open.Load() && !strings.HasPrefix(addr, "never") {
			return ""
		}
		return "450 4.2.0 <" + addr + ">: try later"
	}})
	// Backoff of an hour: only the operator makes A try again.
	a := startSender(t, nil, "", "minimal_backoff_time = 1h", "maximal_backoff_time = 1h",
		transportMaps(t, fmt.Sprintf("ops.test smtp:[127.0.0.3]:%d", s.Port)))
	ids := map[string]string{}
	for _, rcpt := range []string{"held@ops.test", "flushed@ops.test", "never@ops.test"} {
		id := submit(t, a, "pascal@example.org", []string{rcpt}, "Subject: to "+rcpt+"\r\n\r\nx\r\n")
		waitLine(t, a, id+": to=<"+rcpt+">", "status=deferred")
		ids[rcpt] = id
	}
	held, flushed, never := ids["held@ops.test"], ids["flushed@ops.test"], ids["never@ops.test"]
	waitQueue(t, a, held, flushed, never, "held@ops.test [deferred]", "450 4.2.0 <held@ops.test>: try later")

	expect := func(want string, args ...string) {
		t.Helper()
		if out := run(t, a, append([]string{"queue"}, args...)...); out != want {
			t.Errorf("queue %s printed %q, want %q", strings.Join(args, " "), out, want)
		}
	}
	expect("facteur: queue ID "+held+" held\n", "hold", held)
	open.Store(true)
	// Every message but the held one is tried now.
	expect("facteur: 2 messages flushed\n", "flush")
	waitLine(t, a, flushed+": to=<flushed@ops.test>", "status=sent")
	waitLine(t, a, flushed+": removed")
	first := strings.Index(a.Log(), never+": to=<never@ops.test>")
	waitLineAfter(t, a, first+1, never+": to=<never@ops.test>", "status=deferred")
	// mailq's mark of a held message: "!" after its queue ID.
	if q := run(t, a, "queue", "list"); !strings.Contains(q, held+"! ") || !strings.Contains(q, "held@ops.test [deferred]") {
		t.Errorf("queue list does not show %s held and deferred:\n%s", held, q)
	}
	if lines := logLines(a, 0, held+": to=<held@ops.test>"); len(lines) != 1 {
		t.Errorf("the held message was tried again: %q", lines)
	}

	expect("facteur: queue ID "+held+" released\n", "release", held)
	if q := run(t, a, "queue", "list"); !strings.Contains(q, held+" ") || strings.Contains(q, held+"!") {
		t.Errorf("queue list after release:\n%s", q)
	}
	expect("facteur: queue ID "+held+" flushed\n", "flush", held)
	waitLine(t, a, held+": to=<held@ops.test>", "status=sent")
	waitLine(t, a, held+": removed")
	got := s.Accepted()
	if len(got) != 2 || !slices.Equal(got[0].To, []string{"flushed@ops.test"}) || !slices.Equal(got[1].To, []string{"held@ops.test"}) {
		t.Errorf("the sink took %+v, want flushed@ops.test then held@ops.test", got)
	}

	// requeue: tried now, as if new.
	offset := len(a.Log())
	expect("facteur: queue ID "+never+" requeued\n", "requeue", never)
	waitLineAfter(t, a, offset, never+": to=<never@ops.test>", "status=deferred")
	if show := run(t, a, "queue", "show", never); !strings.Contains(show, "attempts=1") {
		t.Errorf("after requeue and one attempt, queue show says:\n%s", show)
	}
	expect("facteur: queue ID "+never+" deleted\n", "delete", never)
	waitLine(t, a, never+": removed by the operator")
	if q := run(t, a, "queue", "list"); !strings.Contains(q, "Mail queue is empty") {
		t.Errorf("queue list after delete:\n%s", q)
	}
	if n := notices(a, never); len(n) != 0 {
		t.Errorf("a deleted message got notices %v", n)
	}
	if _, err := a.Run("", "queue", "hold", never); err == nil || !strings.Contains(err.Error(), never) {
		t.Errorf("queue hold of a deleted message: %v", err)
	}
}
