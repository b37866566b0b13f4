package systest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// imapScript drives facteur's IMAP server with Python's imaplib, a client
// written independently of facteur. Its arguments: host, IMAP port, IMAPS
// port, SMTP port, the file of the message to APPEND, and the files
// holding `facteur mailbox cat` of each INBOX message.
const imapScript = `
import imaplib, re, smtplib, socket, ssl, sys, time
host, port, sport, smtp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
appended = open(sys.argv[5], "rb").read()
want = [open(p, "rb").read() for p in sys.argv[6:]]

def session(select="INBOX"):
    m = imaplib.IMAP4(host, port, timeout=30)
    typ, _ = m.login("toto", "pw")
    assert typ == "OK", typ
    if select:
        typ, data = m.select(select)
        assert typ == "OK", (typ, data)
    return m

def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data

def code(m, name):
    # The last response code NAME the server sent (tagged or untagged).
    typ, data = m.response(name)
    assert data and data[-1] is not None, ("no " + name, data)
    return data[-1].decode().split()

def fetch(m, uid, item):
    # The literal of a UID FETCH of one message.
    data = ok(m.uid("FETCH", str(uid), item))
    for d in data:
        if isinstance(d, tuple):
            return d[0], d[1]
    raise AssertionError(("no literal", data))

def uidflags(m, uid):
    # The flags a client ends with: the last FETCH of the message.
    data = ok(m.uid("FETCH", str(uid), "FLAGS"))
    return re.search(rb"FLAGS \(([^)]*)\)", data[-1]).group(1).split()

# Capabilities before login: STARTTLS is offered on the plain port.
m = imaplib.IMAP4(host, port, timeout=30)
for c in ("IMAP4REV1", "STARTTLS", "IDLE", "LITERAL+"):
    assert c in m.capabilities, (c, m.capabilities)
ok(m.login("toto", "pw"))
caps = ok(m.capability())[0].split()
for c in (b"IDLE", b"UIDPLUS", b"MOVE", b"SPECIAL-USE", b"NAMESPACE", b"UNSELECT", b"ENABLE"):
    assert c in caps, (c, caps)

# LIST: every account has the special-use mailboxes, with their
# attribute when the client asks for it (RFC 6154 §2, RFC 5258).
def mailboxes(m, pattern):
    names = {}
    for line in ok(m.list('""', pattern)):
        mo = re.match(rb'\(([^)]*)\) (?:NIL|"[^"]*") "?([^"]*)"?$', line)
        assert mo, line
        names[mo.group(2).decode()] = mo.group(1).split()
    return names
want_use = {"Sent": b"\\Sent", "Drafts": b"\\Drafts", "Trash": b"\\Trash", "Junk": b"\\Junk", "Archive": b"\\Archive"}
names = mailboxes(m, '"*"')
assert set(names) == {"INBOX"} | set(want_use), names
names = mailboxes(m, '"*" RETURN (SPECIAL-USE)')
for name, use in want_use.items():
    assert use in names.get(name, []), (name, names)
m.logout()

# SELECT and FETCH BODY[]: byte for byte what the store holds; BODY[]
# (not PEEK) sets \Seen.
m = session()
assert int(m.response("EXISTS")[1][-1]) == len(want)
uids = [int(u) for u in ok(m.uid("SEARCH", None, "ALL"))[0].split()]
assert len(uids) == len(want) and uids == sorted(uids), uids
for uid, w in zip(uids, want):
    _, body = fetch(m, uid, "(BODY[])")
    assert body == w, (uid, body, w)
    assert b"\\Seen" in uidflags(m, uid), uidflags(m, uid)

# UID SEARCH on a header and on the body.
assert ok(m.uid("SEARCH", None, "SUBJECT", '"dots"'))[0].split() == [str(uids[1]).encode()]
assert ok(m.uid("SEARCH", None, "BODY", '"two dots"'))[0].split() == [str(uids[1]).encode()]
assert ok(m.uid("SEARCH", None, "NOT", "SUBJECT", '"dots"'))[0].split() == [str(u).encode() for u in uids if u != uids[1]]

# STORE in one session is seen by a second: on its next command, as an
# untagged FETCH, and in its own FETCH.
b = session()
ok(m.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged $Label1)"))
b.response("FETCH")
ok(b.noop())
typ, pushed = b.response("FETCH")
assert pushed and any(p and b"\\Flagged" in p for p in pushed), pushed
assert b"\\Flagged" in uidflags(b, uids[0]) and b"$Label1" in uidflags(b, uids[0])
ok(m.uid("STORE", str(uids[0]), "-FLAGS.SILENT", "($Label1)"))
assert b"$Label1" not in uidflags(b, uids[0])

# APPEND answers APPENDUID (RFC 4315), and the message is kept byte for
# byte with its flags and internal date.
typ, data = m.status("Drafts", "(UIDVALIDITY UIDNEXT MESSAGES)")
validity = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
uidnext = int(re.search(rb"UIDNEXT (\d+)", data[0]).group(1))
date = '"01-Feb-2020 10:00:00 +0100"'
data = ok(m.append("Drafts", "(\\Draft)", date, appended))
mo = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
assert mo and int(mo.group(1)) == validity and int(mo.group(2)) >= uidnext, (data, validity, uidnext)
auid = int(mo.group(2))
ok(m.select("Drafts"))
_, body = fetch(m, auid, "(BODY.PEEK[])")
assert body == appended, body
# The same instant, in whatever zone the server writes it.
data = ok(m.uid("FETCH", str(auid), "(INTERNALDATE)"))
assert time.mktime(imaplib.Internaldate2tuple(data[0])) == time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE ' + date.encode())), data
assert b"\\Draft" in uidflags(m, auid) and b"\\Seen" not in uidflags(m, auid)
print("appenduid", auid)

# COPY and MOVE answer COPYUID; MOVE expunges the source.
ok(m.select("INBOX"))
m.response("COPYUID")
ok(m.uid("COPY", str(uids[0]), "Archive"))
copied = code(m, "COPYUID")
typ, data = m.status("Archive", "(UIDVALIDITY MESSAGES)")
assert copied[0] == re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1).decode() and copied[1] == str(uids[0]), (copied, data)
assert b"MESSAGES 1" in data[0], data
m.response("COPYUID")
ok(m.uid("MOVE", str(uids[2]), "Trash"))
c = code(m, "COPYUID")
assert c[1] == str(uids[2]), c
assert int(m.response("EXPUNGE")[1][-1]) == 3, "MOVE did not expunge message 3"
assert ok(m.uid("SEARCH", None, "ALL"))[0].split() == [str(u).encode() for u in uids if u != uids[2]]
ok(m.select("Trash"))
_, body = fetch(m, int(c[2]), "(BODY.PEEK[])")
assert body == want[2], body
ok(m.select("Archive"))
_, body = fetch(m, int(copied[2]), "(BODY.PEEK[])")
assert body == want[0], body

# EXPUNGE: \Deleted then EXPUNGE removes the message; the other session
# learns it.
ok(m.select("INBOX"))
b.response("EXPUNGE")
ok(m.uid("STORE", str(uids[3]), "+FLAGS.SILENT", "(\\Deleted)"))
data = ok(m.expunge())
assert data == [b"3"], data
ok(b.noop())
assert b.response("EXPUNGE")[1][-1] == b"3"
assert ok(b.uid("SEARCH", None, "ALL"))[0].split() == [str(u).encode() for u in uids if u not in (uids[2], uids[3])]

# IDLE (RFC 2177): a message delivered by SMTP, a flag set and an
# expunge by another session each reach the idling client. The deadline
# only catches a hang.
def idle(m, trigger, pattern):
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    assert line.startswith(b"+"), line
    trigger()
    deadline = time.time() + 30
    while True:
        line = m.readline()
        assert line, "connection closed during IDLE"
        if re.match(pattern, line):
            break
        assert time.time() < deadline, "nothing during IDLE"
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag):
            assert line.startswith(tag + b" OK"), line
            return

def deliver():
    with smtplib.SMTP(host, smtp, timeout=30) as s:
        s.sendmail("pascal@example.org", ["toto@localhost"], b"Subject: during idle\r\n\r\nhello\r\n")

n = len(want) - 2
idle(b, deliver, rb"\* %d EXISTS" % (n + 1))
idle(b, lambda: ok(m.store("1", "+FLAGS", "(\\Answered)")), rb"\* 1 FETCH \(.*\\Answered")
def expunge_first():
    ok(m.store("1", "+FLAGS.SILENT", "(\\Deleted)"))
    ok(m.expunge())
idle(b, expunge_first, rb"\* 1 EXPUNGE")
b.logout()
m.logout()

# STARTTLS, then a login under TLS.
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4(host, port, timeout=30)
ok(m.starttls(ssl_context=ctx))
assert isinstance(m.sock, ssl.SSLSocket)
assert "STARTTLS" not in m.capabilities, m.capabilities
ok(m.login("toto", "pw"))
ok(m.select("INBOX"))
m.logout()

# IMAPS: implicit TLS (RFC 8314).
m = imaplib.IMAP4_SSL(host, sport, ssl_context=ctx, timeout=30)
ok(m.login("toto", "pw"))
ok(m.select("Trash"))
data = ok(m.fetch("1", "(BODY.PEEK[])"))
assert data[0][1] == want[2], data
m.logout()

# A wrong password is NO, and the session may try again.
m = imaplib.IMAP4(host, port, timeout=30)
try:
    m.login("toto", "wrong")
    sys.exit("wrong password accepted")
except imaplib.IMAP4.error as e:
    pass
ok(m.login("toto", "pw"))
m.logout()
print("ok")
`

// TestIMAPImaplib delivers messages over SMTP and works on them with
// Python's imaplib: capabilities, LIST with SPECIAL-USE, SELECT, FETCH
// BODY[] against `facteur mailbox cat`, UID SEARCH, STORE seen by a second
// session, APPEND with APPENDUID, COPY and MOVE with COPYUID, EXPUNGE,
// IDLE woken by a delivery, a flag change and an expunge, STARTTLS and
// IMAPS.
func TestIMAPImaplib(t *testing.T) {
	py := need(t, "python3")
	s := Start(t, bin, "imap_listen = 127.0.0.1:0", "imaps_listen = 127.0.0.1:0")
	s.AddUser("toto", "pw")
	want := deliverSamples(t, s, "toto")
	dir := t.TempDir()
	appended := "From: toto@localhost\r\nSubject: draft\r\n\r\nUn brouillon,\r\n.\r\nsur deux lignes.\r\n"
	appendFile := filepath.Join(dir, "append")
	if err := os.WriteFile(appendFile, []byte(appended), 0o600); err != nil {
		t.Fatal(err)
	}
	_, smtpPort, _ := strings.Cut(s.SMTP, ":")
	args := []string{"-c", imapScript, "127.0.0.1", listenerPort(t, s, "IMAP", 1), listenerPort(t, s, "IMAPS", 1), smtpPort, appendFile}
	for i, w := range want {
		f := filepath.Join(dir, strconv.Itoa(i+1))
		if err := os.WriteFile(f, w, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	out, err := exec.Command(py, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nok") {
		t.Fatalf("imaplib: %v\n%s\nserver log:\n%s", err, out, s.Log())
	}
	// What the script saw over IMAP is what the store holds.
	m := regexp.MustCompile(`appenduid (\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no APPENDUID in the script's output:\n%s", out)
	}
	if got := s.MustRun("", "mailbox", "cat", "toto", m[1], "Drafts"); got != appended {
		t.Errorf("appended message in the store:\n%q\nwant:\n%q", got, appended)
	}
	if got := catAll(t, s, "toto", "Trash"); len(got) != 1 || string(got[0]) != string(want[2]) {
		t.Errorf("Trash after MOVE holds %q, want message 3", got)
	}
	// INBOX: messages 2 and 5 (the one delivered during IDLE) are left.
	if got := s.Count("toto"); got != 2 {
		t.Errorf("INBOX holds %d messages, want 2", got)
	}
}

// listenerPort waits for the nth "NAME on 127.0.0.1:PORT" (IMAP, IMAPS,
// POP3, POP3S) of the master's log (a restarted server announces its
// listeners again) and returns PORT.
func listenerPort(t testing.TB, s *System, name string, nth int) string {
	t.Helper()
	// The master's log line, once per start; the start-up line on stderr
	// names the listeners too.
	re := regexp.MustCompile(`facteur/master\[[0-9]+\]: .*\b` + name + ` on 127\.0\.0\.1:([0-9]+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindAllStringSubmatch(s.Log(), -1); len(m) >= nth {
			return m[nth-1][1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s listener announced %d times:\n%s", name, nth, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// imapConn is a raw IMAP client for tests that check exact responses or
// stop in the middle of a command.
type imapConn struct {
	t   testing.TB
	c   net.Conn
	br  *bufio.Reader
	tag int
}

// dialIMAP connects and reads the greeting; with tlsOn, over implicit TLS.
func dialIMAP(t testing.TB, addr string, tlsOn bool) *imapConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tlsOn {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapConn{t: t, c: c, br: bufio.NewReader(c)}
	if g := ic.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("IMAP greeting %q", g)
	}
	return ic
}

// login dials, logs in and selects mailbox unless it is empty.
func loginIMAP(t testing.TB, addr, user, mailbox string) *imapConn {
	t.Helper()
	ic := dialIMAP(t, addr, false)
	ic.ok("LOGIN %s pw", user)
	if mailbox != "" {
		ic.ok("SELECT %s", mailbox)
	}
	return ic
}

// line reads one response line, with any literals it carries inlined:
// "{N}" stays in the text and the N octets follow it.
func (ic *imapConn) line() string {
	ic.t.Helper()
	l, err := ic.readLine()
	if err != nil {
		ic.t.Fatalf("reading IMAP response: %v (got %q)", err, l)
	}
	return l
}

var literalRE = regexp.MustCompile(`\{([0-9]+)\}\r\n$`)

func (ic *imapConn) readLine() (string, error) {
	ic.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var b strings.Builder
	for {
		l, err := ic.br.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		m := literalRE.FindStringSubmatch(l)
		if m == nil {
			return strings.TrimSuffix(b.String(), "\r\n"), nil
		}
		n, _ := strconv.Atoi(m[1])
		if _, err := io.CopyN(&b, ic.br, int64(n)); err != nil {
			return b.String(), err
		}
	}
}

// send writes a command with a new tag and returns the tag.
func (ic *imapConn) send(format string, args ...any) string {
	ic.t.Helper()
	ic.tag++
	tag := fmt.Sprintf("t%d", ic.tag)
	ic.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintf(ic.c, tag+" "+format+"\r\n", args...); err != nil {
		ic.t.Fatalf("sending %s: %v", tag, err)
	}
	return tag
}

// result reads up to the tagged response of tag and returns the untagged
// lines and the tagged one without its tag.
func (ic *imapConn) result(tag string) (untagged []string, done string) {
	ic.t.Helper()
	for {
		l := ic.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// cmd runs a command and returns its untagged lines and tagged result.
func (ic *imapConn) cmd(format string, args ...any) ([]string, string) {
	ic.t.Helper()
	return ic.result(ic.send(format, args...))
}

// ok runs a command that must succeed and returns its untagged lines.
func (ic *imapConn) ok(format string, args ...any) []string {
	ic.t.Helper()
	u, done := ic.cmd(format, args...)
	if !strings.HasPrefix(done, "OK") {
		ic.t.Fatalf("%s: got %q", fmt.Sprintf(format, args...), done)
	}
	return u
}

// try runs a command and returns its tagged result, or the error that
// ended the session first.
func (ic *imapConn) try(line string) (string, error) {
	ic.t.Helper()
	tag := ic.send("%s", line)
	for {
		l, err := ic.readLine()
		if err != nil {
			return l, err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest, nil
		}
	}
}

// appendMsg APPENDs msg with a synchronizing literal and returns the
// APPENDUID's UID.
func (ic *imapConn) appendMsg(mailbox, msg string) uint32 {
	ic.t.Helper()
	tag := ic.send("APPEND %s {%d}", mailbox, len(msg))
	if l := ic.line(); !strings.HasPrefix(l, "+") {
		ic.t.Fatalf("APPEND: got %q, want +", l)
	}
	fmt.Fprintf(ic.c, "%s\r\n", msg)
	_, done := ic.result(tag)
	uid, ok := appendUID(done)
	if !ok {
		ic.t.Fatalf("APPEND: got %q, want OK [APPENDUID ...]", done)
	}
	return uid
}

// appendMany APPENDs msgs with non-synchronizing literals (LITERAL+, RFC
// 7888), all sent before any reply is read, and returns their UIDs.
func (ic *imapConn) appendMany(mailbox string, msgs []string) []uint32 {
	ic.t.Helper()
	var b strings.Builder
	tags := make([]string, len(msgs))
	for i, msg := range msgs {
		ic.tag++
		tags[i] = fmt.Sprintf("t%d", ic.tag)
		fmt.Fprintf(&b, "%s APPEND %s {%d+}\r\n%s\r\n", tags[i], mailbox, len(msg), msg)
	}
	werr := make(chan error, 1)
	go func() {
		ic.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		_, err := io.WriteString(ic.c, b.String())
		werr <- err
	}()
	uids := make([]uint32, len(msgs))
	for i, tag := range tags {
		_, done := ic.result(tag)
		uid, ok := appendUID(done)
		if !ok {
			ic.t.Fatalf("APPEND %d: got %q, want OK [APPENDUID ...]", i+1, done)
		}
		uids[i] = uid
	}
	if err := <-werr; err != nil {
		ic.t.Fatal(err)
	}
	return uids
}

var appendUIDRE = regexp.MustCompile(`^OK \[APPENDUID [0-9]+ ([0-9]+)\]`)

// appendUID reads the UID out of an APPEND's tagged OK.
func appendUID(done string) (uint32, bool) {
	m := appendUIDRE.FindStringSubmatch(done)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 32)
	return uint32(n), err == nil
}

// status returns a STATUS item of a mailbox.
func (ic *imapConn) status(mailbox, item string) uint32 {
	ic.t.Helper()
	for _, l := range ic.ok("STATUS %s (%s)", mailbox, item) {
		if m := regexp.MustCompile(`\b` + item + ` ([0-9]+)`).FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			return uint32(n)
		}
	}
	ic.t.Fatalf("no %s in STATUS %s", item, mailbox)
	return 0
}

// TestIMAPBadInput sends what a hostile or broken client sends: names
// that would leave the account, literals far over the limit, malformed
// and deeply nested commands. Each gets NO, BAD or BYE as the RFCs say,
// and a second client is served meanwhile.
func TestIMAPBadInput(t *testing.T) {
	s := Start(t, bin, "imap_listen = 127.0.0.1:0", "message_size_limit = 100000")
	s.AddUser("toto", "pw")
	s.AddUser("titi", "pw")
	addr := "127.0.0.1:" + listenerPort(t, s, "IMAP", 1)
	titi := loginIMAP(t, addr, "titi", "")
	titi.appendMsg("INBOX", "Subject: titi's\r\n\r\nprivate\r\n")
	before := s.MustRun("", "mailbox", "list", "titi")

	// Each on a session of its own, so that one that breaks its session
	// does not hide the others.
	for _, c := range []string{
		`CREATE ../x`, `CREATE "../x"`, `CREATE /etc`, `CREATE "/etc/passwd"`, `CREATE "a/../../b"`,
		`CREATE "a//b"`, "CREATE {3+}\r\nx\x01y", `CREATE "../titi/INBOX"`,
		`SELECT "../titi/INBOX"`, `SELECT "../titi"`, `SELECT "/titi/INBOX"`, `SELECT "~titi/INBOX"`,
		`STATUS "../titi/INBOX" (MESSAGES)`, `DELETE "../titi/INBOX"`, `RENAME INBOX "../titi/x"`,
		`APPEND "../titi/INBOX" {3+}` + "\r\nx\r\n",
	} {
		one := loginIMAP(t, addr, "toto", "")
		done, err := one.try(c)
		if err != nil || !strings.HasPrefix(done, "NO") && !strings.HasPrefix(done, "BAD") {
			t.Errorf("%q: got %q, %v; want NO", c, done, err)
			continue
		}
		if done, err := one.try("NOOP"); err != nil || !strings.HasPrefix(done, "OK") {
			t.Errorf("NOOP after %q: got %q, %v; want OK", c, done, err)
		}
	}
	a := loginIMAP(t, addr, "toto", "")
	for _, l := range a.ok(`LIST "" "*"`) {
		if strings.Contains(strings.ToLower(l), "titi") || strings.Contains(l, "etc") || strings.Contains(l, "..") {
			t.Errorf("LIST shows %q", l)
		}
	}
	if after := s.MustRun("", "mailbox", "list", "titi"); after != before {
		t.Errorf("titi's INBOX changed:\n%s\nwas:\n%s", after, before)
	}

	// A synchronizing literal of 4 GB: NO [TOOBIG] before any "+" (RFC
	// 7889, RFC 9051 §4.3), and the session goes on.
	tag := a.send("APPEND INBOX {4294967296}")
	if l := a.line(); !strings.HasPrefix(l, tag+" NO") {
		t.Errorf("APPEND of a 4 GB synchronizing literal: got %q, want NO before any +", l)
	}
	a.ok("NOOP")
	// Over APPENDLIMIT (message_size_limit), still NO [TOOBIG].
	if _, done := a.cmd("APPEND INBOX {200000}"); !strings.HasPrefix(done, "NO [TOOBIG]") {
		t.Errorf("APPEND over APPENDLIMIT: got %q, want NO [TOOBIG]", done)
	}

	// Malformed syntax, unbalanced parentheses, NUL and control bytes:
	// BAD, and the session goes on.
	for _, c := range []string{`FETCH (((`, `SELECT`, `UID FETCH 1:* (FLAGS`, "NOOP \x00", `SEARCH ((((ALL)`,
		`LOGIN`, "\x00\x01 garbage", ")))", `"unbalanced`} {
		one := loginIMAP(t, addr, "toto", "")
		done, err := one.try(c)
		if err != nil || !strings.HasPrefix(done, "BAD") && !strings.HasPrefix(done, "NO") {
			t.Errorf("%q: got %q, %v; want BAD", c, done, err)
			continue
		}
		if done, err := one.try("NOOP"); err != nil || !strings.HasPrefix(done, "OK") {
			t.Errorf("NOOP after %q: got %q, %v; want OK", c, done, err)
		}
	}
	a.ok("SELECT INBOX")
	// Deep nesting in SEARCH: BAD or NO, never a crash.
	deep := strings.Repeat("(", 5000) + "ALL" + strings.Repeat(")", 5000)
	if _, done := a.cmd("SEARCH %s", deep); !strings.HasPrefix(done, "BAD") && !strings.HasPrefix(done, "NO") && !strings.HasPrefix(done, "OK") {
		t.Errorf("deeply nested SEARCH: got %q", done)
	}
	a.ok("NOOP")

	// A client stalls halfway through an APPEND literal.
	stall := loginIMAP(t, addr, "toto", "")
	stall.send("APPEND INBOX {50000}")
	if l := stall.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: got %q, want +", l)
	}
	fmt.Fprint(stall.c, strings.Repeat("x", 20000))

	// A non-synchronizing literal of 4 GB: BYE, the connection closes,
	// its octets never run as commands.
	big := loginIMAP(t, addr, "toto", "")
	big.send("APPEND INBOX {4294967296+}")
	fmt.Fprint(big.c, "t99 CREATE smuggled\r\n")
	if l := big.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("non-synchronizing 4 GB literal: got %q, want * BYE", l)
	}
	if l, err := big.readLine(); err == nil {
		t.Errorf("after BYE the connection stays open: got %q", l)
	}

	// Meanwhile another client is served.
	good := loginIMAP(t, addr, "toto", "INBOX")
	good.appendMsg("INBOX", "Subject: good\r\n\r\nfine\r\n")
	good.ok("UID FETCH 1:* (FLAGS)")
	for _, l := range good.ok(`LIST "" "*"`) {
		if strings.Contains(l, "smuggled") {
			t.Errorf("the literal's octets ran as a command: %q", l)
		}
	}
	stall.c.Close()
	if n := s.Count("toto"); n != 1 {
		t.Errorf("toto's INBOX holds %d messages, want only the good one:\n%s", n, s.MustRun("", "mailbox", "list", "toto"))
	}
}
