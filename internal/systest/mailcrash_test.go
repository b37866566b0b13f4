package systest

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests here kill the server with SIGKILL in the middle of IMAP work
// and check the mailbox afterwards: no message half there, every message
// whose APPEND or delivery was acknowledged there byte for byte under the
// UID it was given, UIDNEXT never lower, and no UID given out twice.

// TestIMAPKill9DuringAppend kills the server while clients APPEND, one of
// them halfway through a large literal.
func TestIMAPKill9DuringAppend(t *testing.T) {
	s := Start(t, bin, "imap_listen = 127.0.0.1:0")
	s.AddUser("crash", "pw")
	addr := "127.0.0.1:" + listenerPort(t, s, "IMAP", 1)

	// A large literal, half sent when the server dies.
	half := loginIMAP(t, addr, "crash", "")
	half.send("APPEND INBOX {4000000}")
	if l := half.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: got %q, want +", l)
	}
	fmt.Fprint(half.c, strings.Repeat("h", 2000000))

	const clients, perClient, killAfter = 4, 40, 30
	var (
		mu    sync.Mutex
		sent  = map[string]bool{} // every body an APPEND carried
		acked = map[uint32]string{}
		twice []uint32
		wg    sync.WaitGroup
		kill  = make(chan struct{})
		once  sync.Once
	)
	for i := range clients {
		wg.Go(func() {
			a, err := dialRaw(addr, "crash")
			if err != nil {
				return
			}
			defer a.c.Close()
			for j := range perClient {
				body := fmt.Sprintf("Subject: append-%d-%d\r\n\r\n%s\r\n", i, j, strings.Repeat("y", 20000+j))
				mu.Lock()
				sent[body] = true
				mu.Unlock()
				uid, err := a.append("INBOX", body)
				if err != nil {
					return // the server died under us: expected
				}
				mu.Lock()
				if _, ok := acked[uid]; ok {
					twice = append(twice, uid)
				}
				acked[uid] = body
				if len(acked) == killAfter {
					once.Do(func() { close(kill) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-kill:
	case <-time.After(120 * time.Second):
		t.Fatalf("fewer than %d APPENDs acknowledged in 120s", killAfter)
	}
	s.Kill()
	wg.Wait()
	t.Logf("%d APPENDs acknowledged before SIGKILL", len(acked))
	if len(twice) > 0 {
		t.Errorf("APPENDUID gave out UIDs %v twice", twice)
	}
	if len(acked) < killAfter {
		t.Fatalf("%d APPENDs acknowledged, want at least %d", len(acked), killAfter)
	}

	s.Restart()
	ic := loginIMAP(t, "127.0.0.1:"+listenerPort(t, s, "IMAP", 2), "crash", "")
	after := checkMailbox(t, s, ic, "crash", "INBOX", func(uid uint32, body string) bool {
		return sent[body]
	})
	for uid, body := range acked {
		if after[uid] != body {
			t.Errorf("acknowledged APPEND, UID %d, is not there as sent (%d octets there)", uid, len(after[uid]))
		}
	}
	checkUIDsGoOn(t, ic, "INBOX", slices.Collect(maps.Keys(after)), slices.Collect(maps.Keys(acked)))
}

// TestIMAPKill9DuringExpunge kills the server when a client has just
// sent EXPUNGE for half of a mailbox, a little later in each round, so
// that across rounds the kill lands before, during and after the work.
func TestIMAPKill9DuringExpunge(t *testing.T) {
	s := Start(t, bin, "imap_listen = 127.0.0.1:0")
	s.AddUser("crash", "pw")
	bodies := map[uint32]string{} // what INBOX holds, by UID
	for round, delay := range []time.Duration{0, 3 * time.Millisecond, 20 * time.Millisecond} {
		ic := loginIMAP(t, "127.0.0.1:"+listenerPort(t, s, "IMAP", round+1), "crash", "")
		var msgs []string
		for i := range 120 {
			msgs = append(msgs, fmt.Sprintf("Subject: expunge-%d-%d\r\n\r\n%s\r\n", round, i, strings.Repeat("z", 100+i)))
		}
		var deleted []uint32
		for i, uid := range ic.appendMany("INBOX", msgs) {
			bodies[uid] = msgs[i]
			if i%2 == 0 {
				deleted = append(deleted, uid)
			}
		}
		ic.ok("SELECT INBOX")
		ic.ok("UID STORE %s +FLAGS.SILENT (\\Deleted)", uidSet(deleted))
		uidnext := ic.status("INBOX", "UIDNEXT")
		ic.send("EXPUNGE")
		time.Sleep(delay) // where the SIGKILL lands, not a wait for anything
		s.Kill()

		s.Restart()
		ic = loginIMAP(t, "127.0.0.1:"+listenerPort(t, s, "IMAP", round+2), "crash", "")
		after := checkMailbox(t, s, ic, "crash", "INBOX", func(uid uint32, body string) bool {
			return bodies[uid] == body
		})
		var gone int
		for uid, body := range bodies {
			if _, ok := after[uid]; ok {
				continue
			}
			gone++
			if !slices.Contains(deleted, uid) {
				t.Errorf("UID %d (%.20q) was not \\Deleted and is gone", uid, body)
			}
		}
		// What was not expunged keeps its \Deleted flag.
		ic.ok("SELECT INBOX")
		for _, l := range ic.ok("UID FETCH 1:* (UID FLAGS)") {
			m := fetchUIDRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			if slices.Contains(deleted, uint32(uid)) != strings.Contains(l, `\Deleted`) {
				t.Errorf("flags after the crash: %q", l)
			}
		}
		t.Logf("round %d: %d of %d \\Deleted messages expunged before SIGKILL", round+1, gone, len(deleted))
		if got := ic.status("INBOX", "UIDNEXT"); got < uidnext {
			t.Errorf("UIDNEXT went back from %d to %d", uidnext, got)
		}
		uid, body := checkUIDsGoOn(t, ic, "INBOX", slices.Collect(maps.Keys(bodies)))
		after[uid] = body
		bodies = after
		// The next round starts from a mailbox with nothing \Deleted.
		ic.ok("SELECT INBOX")
		ic.ok("EXPUNGE")
		for _, u := range deleted {
			delete(bodies, u)
		}
		ic.c.Close()
	}
}

// TestIMAPKill9DuringDelivery kills the server while SMTP clients deliver
// to a mailbox an IMAP client watches: after restart each UID the client
// saw still holds the same message, every acknowledged message is there
// once and whole, and new mail gets new UIDs.
func TestIMAPKill9DuringDelivery(t *testing.T) {
	s := Start(t, bin, "imap_listen = 127.0.0.1:0")
	s.AddUser("crash", "pw")
	addr := "127.0.0.1:" + listenerPort(t, s, "IMAP", 1)
	watcher := loginIMAP(t, addr, "crash", "")
	const sessions, perSession, snapAfter, killAfter = 6, 60, 20, 60
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		snap  = make(chan struct{})
		kill  = make(chan struct{})
		once1 sync.Once
		once2 sync.Once
	)
	smtpAddr := s.SMTP
	for i := range sessions {
		wg.Go(func() {
			for j := range perSession {
				subject := fmt.Sprintf("deliver-%d-%d", i, j)
				if err := sendOne(smtpAddr, "crash@localhost", subject); err != nil {
					return // the server died under us: expected
				}
				mu.Lock()
				acked = append(acked, subject)
				if len(acked) >= snapAfter {
					once1.Do(func() { close(snap) })
				}
				if len(acked) >= killAfter {
					once2.Do(func() { close(kill) })
				}
				mu.Unlock()
			}
		})
	}
	whole := func(uid uint32, body string) bool {
		_, text, ok := strings.Cut(body, "\r\n\r\n")
		return ok && text == strings.Repeat("x", 200)+"\r\n" && deliveredSubject(body) != ""
	}
	select {
	case <-snap:
	case <-time.After(120 * time.Second):
		t.Fatalf("fewer than %d messages acknowledged in 120s", snapAfter)
	}
	watcher.ok("EXAMINE INBOX")
	seen := fetchBodies(t, watcher)
	select {
	case <-kill:
	case <-time.After(120 * time.Second):
		t.Fatalf("fewer than %d messages acknowledged in 120s", killAfter)
	}
	uidnext := watcher.status("INBOX", "UIDNEXT")
	s.Kill()
	wg.Wait()
	t.Logf("%d messages acknowledged before SIGKILL, %d seen over IMAP", len(acked), len(seen))

	s.Restart()
	s.WaitCount("crash", len(acked), 60*time.Second)
	ic := loginIMAP(t, "127.0.0.1:"+listenerPort(t, s, "IMAP", 2), "crash", "")
	after := checkMailbox(t, s, ic, "crash", "INBOX", whole)
	for uid, body := range seen {
		if after[uid] != body {
			t.Errorf("UID %d held %q before the crash, %q after", uid, deliveredSubject(body), deliveredSubject(after[uid]))
		}
	}
	count := map[string]int{}
	for _, body := range after {
		count[deliveredSubject(body)]++
	}
	for _, subject := range acked {
		if count[subject] != 1 {
			t.Errorf("acknowledged message %s is there %d times", subject, count[subject])
		}
	}
	if got := ic.status("INBOX", "UIDNEXT"); got < uidnext {
		t.Errorf("UIDNEXT went back from %d to %d", uidnext, got)
	}
	// A delivery after the restart gets a UID above every one given out.
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250")
	c.send("pascal@example.org", []string{"crash@localhost"}, "Subject: after\r\n\r\nnew\r\n")
	s.WaitCount("crash", len(after)+1, 30*time.Second)
	ic.ok("EXAMINE INBOX")
	var newUID uint32
	for uid, body := range fetchBodies(t, ic) {
		if _, ok := after[uid]; !ok && strings.Contains(body, "Subject: after\r\n") {
			newUID = uid
		}
	}
	maxSeen := max(uidnext-1, slices.Max(slices.Collect(maps.Keys(after))))
	if newUID <= maxSeen {
		t.Errorf("delivery after the restart got UID %d, want above %d", newUID, maxSeen)
	}
}

var subjectRE = regexp.MustCompile(`(?m)^Subject: (\S+)\r$`)

// deliveredSubject is the Subject of a message sendOne sent.
func deliveredSubject(body string) string {
	if m := subjectRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// checkMailbox checks that a mailbox is consistent after a restart: IMAP
// and `facteur mailbox count` agree on its size, its UIDs are unique and
// ascending, and each message is one that valid accepts (whole, not half
// written). It returns the messages by UID.
func checkMailbox(t *testing.T, s *System, ic *imapConn, account, mailbox string, valid func(uid uint32, body string) bool) map[uint32]string {
	t.Helper()
	var exists int
	for _, l := range ic.ok("EXAMINE %s", mailbox) {
		if m := regexp.MustCompile(`^\* ([0-9]+) EXISTS`).FindStringSubmatch(l); m != nil {
			exists, _ = strconv.Atoi(m[1])
		}
	}
	if n := s.Count(account); n != exists {
		t.Errorf("mailbox count says %d messages, SELECT says %d", n, exists)
	}
	uids := searchAll(t, ic)
	if len(uids) != exists || !slices.IsSorted(uids) || len(slices.Compact(slices.Clone(uids))) != len(uids) {
		t.Errorf("UIDs %v for %d messages", uids, exists)
	}
	bodies := fetchBodies(t, ic)
	for _, uid := range uids {
		if !valid(uid, bodies[uid]) {
			t.Errorf("UID %d is not a whole message sent: %d octets, %.60q", uid, len(bodies[uid]), bodies[uid])
		}
	}
	return bodies
}

// checkUIDsGoOn APPENDs after a restart and checks the new message gets
// a UID above every UID the mailbox held or handed out before; it returns
// the new message's UID and content.
func checkUIDsGoOn(t *testing.T, ic *imapConn, mailbox string, before ...[]uint32) (uint32, string) {
	t.Helper()
	var top uint32
	for _, uids := range before {
		for _, u := range uids {
			top = max(top, u)
		}
	}
	uidnext := ic.status(mailbox, "UIDNEXT")
	if uidnext <= top {
		t.Errorf("UIDNEXT %d after the restart, but UID %d was given out before", uidnext, top)
	}
	const body = "Subject: after the crash\r\n\r\nnew\r\n"
	uid := ic.appendMsg(mailbox, body)
	if uid <= top || uid < uidnext {
		t.Errorf("APPEND after the restart got UID %d; UIDNEXT was %d and UID %d was given out before", uid, uidnext, top)
	}
	return uid, body
}

// searchAll returns the UIDs of the selected mailbox.
func searchAll(t *testing.T, ic *imapConn) []uint32 {
	t.Helper()
	var uids []uint32
	for _, l := range ic.ok("UID SEARCH ALL") {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			for _, f := range strings.Fields(rest) {
				n, err := strconv.ParseUint(f, 10, 32)
				if err != nil {
					t.Fatalf("SEARCH response %q", l)
				}
				uids = append(uids, uint32(n))
			}
		}
	}
	return uids
}

var fetchBodyRE = regexp.MustCompile(`(?s)^\* [0-9]+ FETCH \(.*?BODY\[\] \{([0-9]+)\}\r\n`)
var fetchUIDRE = regexp.MustCompile(`UID ([0-9]+)`)

// fetchBodies returns every message of the selected mailbox by UID.
func fetchBodies(t *testing.T, ic *imapConn) map[uint32]string {
	t.Helper()
	out := map[uint32]string{}
	for _, l := range ic.ok("UID FETCH 1:* (UID BODY.PEEK[])") {
		m := fetchBodyRE.FindStringSubmatchIndex(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(l[m[2]:m[3]])
		if m[1]+n > len(l) {
			t.Fatalf("FETCH response shorter than its literal: %.80q", l)
		}
		body := l[m[1] : m[1]+n]
		// UID comes before or after the literal, never from inside it.
		u := fetchUIDRE.FindStringSubmatch(l[:m[1]])
		if u == nil {
			u = fetchUIDRE.FindStringSubmatch(l[m[1]+n:])
		}
		if u == nil {
			t.Fatalf("FETCH response without UID: %.80q", l)
		}
		uid, _ := strconv.ParseUint(u[1], 10, 32)
		out[uint32(uid)] = body
	}
	return out
}

// uidSet writes UIDs as an IMAP sequence set.
func uidSet(uids []uint32) string {
	parts := make([]string, len(uids))
	for i, u := range uids {
		parts[i] = strconv.FormatUint(uint64(u), 10)
	}
	return strings.Join(parts, ",")
}

// rawIMAP is an IMAP client that returns errors instead of failing the
// test, for goroutines whose server is killed under them.
type rawIMAP struct {
	c   net.Conn
	br  *bufio.Reader
	tag int
}

// dialRaw connects and logs in with the password "pw".
func dialRaw(addr, user string) (*rawIMAP, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	r := &rawIMAP{c: c, br: bufio.NewReader(c)}
	if _, err := r.readLine(); err != nil {
		c.Close()
		return nil, err
	}
	if done, err := r.cmd("LOGIN "+user+" pw", ""); err != nil || !strings.HasPrefix(done, "OK") {
		c.Close()
		return nil, fmt.Errorf("LOGIN: %q, %v", done, err)
	}
	return r, nil
}

func (r *rawIMAP) readLine() (string, error) {
	r.c.SetDeadline(time.Now().Add(60 * time.Second))
	l, err := r.br.ReadString('\n')
	return strings.TrimSuffix(l, "\r\n"), err
}

// cmd sends a command, then literal after the "+" when literal is not
// empty, and returns the tagged response without its tag.
func (r *rawIMAP) cmd(line, literal string) (string, error) {
	r.tag++
	tag := "r" + strconv.Itoa(r.tag)
	r.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintf(r.c, "%s %s\r\n", tag, line); err != nil {
		return "", err
	}
	for {
		l, err := r.readLine()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, "+") && literal != "" {
			if _, err := fmt.Fprintf(r.c, "%s\r\n", literal); err != nil {
				return "", err
			}
			literal = ""
			continue
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest, nil
		}
	}
}

// append APPENDs body and returns its UID from APPENDUID.
func (r *rawIMAP) append(mailbox, body string) (uint32, error) {
	done, err := r.cmd(fmt.Sprintf("APPEND %s {%d}", mailbox, len(body)), body)
	if err != nil {
		return 0, err
	}
	uid, ok := appendUID(done)
	if !ok {
		return 0, fmt.Errorf("APPEND: %q", done)
	}
	return uid, nil
}
