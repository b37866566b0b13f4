package systest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fetchmailMDA is the MDA fetchmail hands each message to: it writes the
// message, as given, to the next free number in a directory. fetchmail
// runs it once per message, one after the other.
const fetchmailMDA = `#!/bin/sh
n=1
while [ -e "$1/$n" ]; do n=$((n+1)); done
cat > "$1/$n.tmp" && mv "$1/$n.tmp" "$1/$n"
`

// fetchmailReceived matches the one header field fetchmail inserts in
// every message it passes on, its trace (RFC 5321 §4.4): "Received: from
// HOST ... by ... with PROTO (fetchmail-VERSION) ...; DATE", folded over
// several lines. fetchmail puts it after a leading Return-Path and
// Delivered-To; the options of runFetchmail keep everything else as is.
var fetchmailReceived = regexp.MustCompile(`(?m)^Received: from [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*`)

// withoutFetchmailTrace removes fetchmail's Received field from a message
// it delivered, and reports whether there was exactly one in the header.
func withoutFetchmailTrace(msg []byte) ([]byte, bool) {
	header := msg
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		header = msg[:i+2]
	}
	var found [][]int
	for _, loc := range fetchmailReceived.FindAllIndex(header, -1) {
		if bytes.Contains(header[loc[0]:loc[1]], []byte("(fetchmail-")) {
			found = append(found, loc)
		}
	}
	if len(found) != 1 {
		return msg, false
	}
	return slices.Concat(msg[:found[0][0]], msg[found[0][1]:]), true
}

// TestFetchmail retrieves with Debian's fetchmail, over POP3 (STLS) and
// IMAP (implicit TLS), into an MDA; each message equals `facteur mailbox
// cat` of what facteur delivered, byte for byte but for the Received
// field fetchmail adds, and fetchmail deletes what it retrieved.
func TestFetchmail(t *testing.T) {
	fetchmail := need(t, "fetchmail")
	for _, tc := range []struct {
		proto, listen, name string
		ssl                 bool
	}{
		{"POP3", "pop3_listen", "POP3", false},
		{"IMAP", "imaps_listen", "IMAPS", true},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			s := Start(t, bin, tc.listen+" = 127.0.0.1:0")
			s.AddUser("toto", "pw")
			want := deliverSamples(t, s, "toto")
			port := listenerPort(t, s, tc.name, 1)
			got := runFetchmail(t, fetchmail, tc.proto, port, tc.ssl)
			if len(got) != len(want) {
				t.Fatalf("fetchmail delivered %d messages, want %d", len(got), len(want))
			}
			for i := range want {
				rest, ok := withoutFetchmailTrace(got[i])
				if !ok {
					t.Errorf("message %d lacks fetchmail's Received field, or has several:\n%s", i+1, got[i])
					continue
				}
				if !bytes.Equal(rest, want[i]) {
					t.Errorf("message %d after fetchmail's Received field:\n%q\nwant (mailbox cat):\n%q", i+1, rest, want[i])
				}
			}
			if n := s.Count("toto"); n != 0 {
				t.Errorf("%d messages left on the server after fetchmail, want 0", n)
			}
		})
	}
}

// deliverSamples sends a few awkward messages to account over SMTP (a
// line with a leading dot, a long line, 8-bit text, a line that is only
// a dot, no final line end in the body's last header) and returns each
// one as `facteur mailbox cat` shows it, in UID order.
func deliverSamples(t *testing.T, s *System, account string) [][]byte {
	t.Helper()
	bodies := []string{
		"Subject: one\r\nFrom: <pascal@example.org>\r\n\r\nBonjour.\r\n",
		"Subject: dots\r\n\r\n.a line with a dot\r\n..two dots\r\n.\r\nend\r\n",
		"Subject: long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("é", 400) + "\r\n\r\n\r\n",
		"Subject: status\r\nStatus: RO\r\nTo: toto\r\n\r\nFrom the start\r\n>From quoted\r\n",
	}
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250")
	for _, b := range bodies {
		c.send("pascal@example.org", []string{account + "@localhost"}, stuff(b))
	}
	c.cmd("QUIT", "221")
	s.WaitCount(account, len(bodies), 20*time.Second)
	return catAll(t, s, account, "INBOX")
}

// catAll returns `facteur mailbox cat` of every message of a mailbox, in
// UID order.
func catAll(t *testing.T, s *System, account, mailbox string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, uid := range uids(t, s, account, mailbox) {
		out = append(out, []byte(s.MustRun("", "mailbox", "cat", account, strconv.FormatUint(uint64(uid), 10), mailbox)))
	}
	return out
}

// uids lists the UIDs of a mailbox with `facteur mailbox list`.
func uids(t *testing.T, s *System, account, mailbox string) []uint32 {
	t.Helper()
	var out []uint32
	for i, line := range strings.Split(s.MustRun("", "mailbox", "list", account, mailbox), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue
		}
		uid, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			t.Fatalf("mailbox list line %q", line)
		}
		out = append(out, uint32(uid))
	}
	return out
}

// runFetchmail runs fetchmail once against 127.0.0.1:port as toto and
// returns what its MDA received, in order. Under TLS the certificate,
// facteur's self-signed default, is not checked.
func runFetchmail(t *testing.T, fetchmail, proto, port string, ssl bool) [][]byte {
	t.Helper()
	dir := t.TempDir()
	got := filepath.Join(dir, "got")
	if err := os.Mkdir(got, 0o700); err != nil {
		t.Fatal(err)
	}
	mda := filepath.Join(dir, "mda")
	if err := os.WriteFile(mda, []byte(fetchmailMDA), 0o700); err != nil {
		t.Fatal(err)
	}
	tls := `sslproto "auto"`
	if ssl {
		tls = "ssl"
	}
	// "no stripcr": the MDA gets CRLF line ends as sent; "no rewrite":
	// addresses in headers are left alone; "no dropstatus",
	// "no dropdelivered": Status and Delivered-To fields are kept.
	rc := fmt.Sprintf(`set no syslog
poll 127.0.0.1 with proto %s service %s
  user "toto" there with password "pw" is "toto" here
  %s no sslcertck
  fetchall no keep no rewrite no stripcr no forcecr no dropstatus no dropdelivered no mimedecode
  mda "%s %s"
`, proto, port, tls, mda, got)
	rcfile := filepath.Join(dir, "fetchmailrc")
	if err := os.WriteFile(rcfile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, fetchmail, "--fetchmailrc", rcfile, "--idfile", filepath.Join(dir, "ids"),
		"--pidfile", filepath.Join(dir, "pid"), "--nodetach", "--verbose")
	cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fetchmail: %v\n%s", err, out)
	}
	t.Logf("fetchmail:\n%s", out)
	var msgs [][]byte
	for i := 1; ; i++ {
		b, err := os.ReadFile(filepath.Join(got, strconv.Itoa(i)))
		if os.IsNotExist(err) {
			return msgs
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
}
