package systest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pop3Script drives facteur's POP3 server with Python's poplib, a client
// written independently of facteur. Its arguments: host, POP3 port, POP3S
// port, and the files holding `facteur mailbox cat` of each message.
const pop3Script = `
import poplib, socket, ssl, sys, time
host, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
want = [open(p, "rb").read() for p in sys.argv[4:]]

def session():
    p = poplib.POP3(host, port, timeout=30)
    p.user("toto"); p.pass_("pw")
    return p

def body(lines):
    return b"".join(l + b"\r\n" for l in lines)

# LIST, UIDL and RETR: byte for byte what the store holds.
p = session()
count, size = p.stat()
assert count == len(want) and size == sum(map(len, want)), (count, size)
sizes = [int(l.split()[1]) for l in p.list()[1]]
assert sizes == [len(w) for w in want], sizes
uidls = [l.split()[1] for l in p.uidl()[1]]
assert len(set(uidls)) == len(want), uidls
for i, w in enumerate(want):
    resp, lines, octets = p.retr(i + 1)
    assert body(lines) == w, (i, body(lines), w)
resp, lines, _ = p.top(1, 0)
assert body(lines) == want[0][:want[0].index(b"\r\n\r\n") + 4], lines

# DELE then a dropped connection deletes nothing.
p.dele(1)
p.sock.shutdown(socket.SHUT_RDWR)
p.close()

# A second session on the maildrop gets [IN-USE], until the first QUITs.
# The server may see the drop after the next login: retry a while.
for i in range(600):
    try:
        a = session()
        break
    except poplib.error_proto as e:
        assert e.args[0].startswith(b"-ERR [IN-USE]") and i < 599, e
        time.sleep(0.05)
assert a.stat()[0] == len(want)
assert [l.split()[1] for l in a.uidl()[1]] == uidls
b = poplib.POP3(host, port, timeout=30)
b.user("toto")
try:
    b.pass_("pw")
    sys.exit("second session got the maildrop")
except poplib.error_proto as e:
    assert e.args[0].startswith(b"-ERR [IN-USE]"), e
a.dele(1)
a.quit()
b.user("toto"); b.pass_("pw")
assert b.stat()[0] == len(want) - 1
assert [l.split()[1] for l in b.uidl()[1]] == uidls[1:], "UIDLs changed"
b.quit()

# STLS, then a login under TLS.
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3(host, port, timeout=30)
assert "STLS" in p.capa()
p.stls(context=ctx)
assert isinstance(p.sock, ssl.SSLSocket)
p.user("toto"); p.pass_("pw")
assert p.stat()[0] == len(want) - 1
p.quit()

# pop3s: implicit TLS.
p = poplib.POP3_SSL(host, sport, context=ctx, timeout=30)
p.user("toto"); p.pass_("pw")
resp, lines, _ = p.retr(2)
assert body(lines) == want[2]
p.quit()

# Wrong passwords are throttled: past smtpd_auth_failure_limit even the
# right one is refused.
refused = 0
for i in range(5):
    try:
        p = poplib.POP3(host, port, timeout=30)
    except OSError:
        break
    try:
        p.user("toto"); p.pass_("wrong")
    except poplib.error_proto as e:
        assert e.args[0].startswith(b"-ERR [AUTH]"), e
        refused += 1
    except OSError:
        pass
    p.close()
assert refused >= 3, refused
p = poplib.POP3(host, port, timeout=30)
try:
    p.user("toto"); p.pass_("pw")
    sys.exit("login allowed after too many failures")
except poplib.error_proto as e:
    assert b"too many" in e.args[0], e
print("ok")
`

// TestPOP3Poplib delivers three messages over SMTP and reads them back
// with poplib: LIST, UIDL and RETR against `facteur mailbox cat`, DELE
// with QUIT and with a dropped connection, [IN-USE], STLS, pop3s, and the
// login throttle.
func TestPOP3Poplib(t *testing.T) {
	py := need(t, "python3")
	s := Start(t, bin, "pop3_listen = 127.0.0.1:0", "pop3s_listen = 127.0.0.1:0",
		"smtpd_auth_failure_limit = 3", "smtpd_auth_failure_delay = 0s")
	s.AddUser("toto", "pw")
	bodies := []string{
		"Subject: one\r\n\r\nBonjour.\r\n",
		"Subject: two\r\n\r\n.a line with a dot\r\n..two dots\r\n.\r\nend\r\n",
		"Subject: three\r\n\r\n" + strings.Repeat("x", 900) + "\r\n",
	}
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250")
	for _, b := range bodies {
		// DATA dot-stuffs: a line starting with "." gets another.
		c.send("pascal@example.org", []string{"toto@localhost"}, stuff(b))
	}
	c.cmd("QUIT", "221")
	s.WaitCount("toto", len(bodies), 20*time.Second)
	dir := t.TempDir()
	args := []string{"-c", pop3Script, "127.0.0.1", listenerPort(t, s, "POP3", 1), listenerPort(t, s, "POP3S", 1)}
	for i := range bodies {
		f := filepath.Join(dir, strconv.Itoa(i+1))
		if err := os.WriteFile(f, []byte(s.MustRun("", "mailbox", "cat", "toto", strconv.Itoa(i+1))), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	out, err := exec.Command(py, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("poplib: %v\n%s\nserver log:\n%s", err, out, s.Log())
	}
	if got := s.Count("toto"); got != len(bodies)-1 {
		t.Errorf("%d messages after DELE and QUIT, want %d", got, len(bodies)-1)
	}
}

// stuff dot-stuffs a message for SMTP DATA (RFC 5321 §4.5.2).
func stuff(msg string) string {
	lines := strings.SplitAfter(msg, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "")
}
