package systest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
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

// TestMbsync syncs facteur's INBOX both ways with Debian's mbsync (isync)
// over IMAPS: messages pulled into a Maildir are what facteur delivered,
// a flag set on either side reaches the other, and a message added to
// the Maildir is uploaded and kept byte for byte.
func TestMbsync(t *testing.T) {
	mbsync := need(t, "mbsync")
	s := Start(t, bin, "imap_listen = 127.0.0.1:0", "imaps_listen = 127.0.0.1:0")
	s.AddUser("toto", "pw")
	want := deliverSamples(t, s, "toto")
	addr := "127.0.0.1:" + listenerPort(t, s, "IMAP", 1)
	saddr := "127.0.0.1:" + listenerPort(t, s, "IMAPS", 1)
	dir := t.TempDir()
	inbox := filepath.Join(dir, "mail", "INBOX")
	if err := os.Mkdir(filepath.Dir(inbox), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := writeMbsyncRC(t, dir, saddr, inbox)
	sync := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, mbsync, "-c", rc, "-V", "facteur")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s\nserver log:\n%s", err, out, s.Log())
		}
		t.Logf("mbsync:\n%s", out)
	}

	// Pull: the Maildir holds what facteur delivered. A Maildir keeps
	// Unix line ends: mbsync turns CRLF into LF on the way down, and adds
	// its X-TUID field at the end of the header (see asPulled).
	sync()
	local := readMaildir(t, inbox)
	if len(local) != len(want) {
		t.Fatalf("Maildir holds %d messages, want %d", len(local), len(want))
	}
	for i, w := range want {
		if !slices.ContainsFunc(local, func(m maildirMsg) bool { return bytes.Equal(m.data, asPulled(w)) }) {
			t.Errorf("message %d is not in the Maildir as delivered:\n%q", i+1, w)
		}
	}

	// A flag on each side: \Flagged on message 1 in the Maildir (F),
	// \Answered on message 2 on the server (R).
	m1 := local[slices.IndexFunc(local, func(m maildirMsg) bool { return bytes.Equal(m.data, asPulled(want[0])) })]
	if err := os.Rename(m1.path, maildirWithFlag(m1.path, 'F')); err != nil {
		t.Fatal(err)
	}
	ic := loginIMAP(t, addr, "toto", "INBOX")
	uidsBefore := searchAll(t, ic)
	ic.ok(`UID STORE %d +FLAGS (\Answered)`, uidsBefore[1])

	// Push: a message written into the Maildir, with LF line ends.
	upload := "From: toto@localhost\nSubject: written offline\n\nFrom the Maildir,\n.\nwith a dot.\n"
	tmp := filepath.Join(inbox, "tmp", "1700000000.local.test")
	if err := os.WriteFile(tmp, []byte(upload), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(inbox, "new", "1700000000.local.test")); err != nil {
		t.Fatal(err)
	}
	sync()

	flags := map[uint32]string{}
	ic.ok("NOOP")
	for _, l := range ic.ok("UID FETCH 1:* (UID FLAGS)") {
		if m := fetchUIDRE.FindStringSubmatch(l); m != nil {
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			flags[uint32(uid)] = l
		}
	}
	if !strings.Contains(flags[uidsBefore[0]], `\Flagged`) {
		t.Errorf("the flag set in the Maildir did not reach the server: %q", flags[uidsBefore[0]])
	}
	local = readMaildir(t, inbox)
	for _, m := range local {
		if bytes.Equal(m.data, asPulled(want[1])) && !strings.Contains(m.flags, "R") {
			t.Errorf("the flag set on the server did not reach the Maildir: %s", m.path)
		}
	}
	if len(local) != len(want)+1 {
		t.Errorf("Maildir holds %d messages after the second sync, want %d", len(local), len(want)+1)
	}
	uidsAfter := searchAll(t, ic)
	if len(uidsAfter) != len(want)+1 {
		t.Fatalf("the server holds UIDs %v after the upload, want %d messages", uidsAfter, len(want)+1)
	}
	newUID := uidsAfter[len(uidsAfter)-1]
	// On the server: CRLF line ends, and mbsync's X-TUID field again.
	got := s.MustRun("", "mailbox", "cat", "toto", fmt.Sprint(newUID))
	if lf := asPulled([]byte(got)); bytes.Count(lf, []byte("\n")) != strings.Count(got, "\r\n") || string(withoutTUID(lf)) != upload {
		t.Errorf("uploaded message on the server:\n%q\nwant with CRLF and an X-TUID field:\n%q", got, upload)
	}

	// A third sync changes nothing: both sides agree.
	sync()
	if again := readMaildir(t, inbox); len(again) != len(local) {
		t.Errorf("a sync with nothing to do left %d messages, want %d", len(again), len(local))
	}
	if n := s.Count("toto"); n != len(want)+1 {
		t.Errorf("a sync with nothing to do left %d messages on the server, want %d", n, len(want)+1)
	}
}

// writeMbsyncRC writes an mbsync configuration for toto's INBOX over
// IMAPS at addr, into a Maildir at inbox, trusting the server's
// certificate (facteur's self-signed default), and returns its path.
func writeMbsyncRC(t *testing.T, dir, addr, inbox string) string {
	t.Helper()
	cert := filepath.Join(dir, "server.pem")
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	der := conn.ConnectionState().PeerCertificates[0].Raw
	conn.Close()
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	rc := fmt.Sprintf(`IMAPAccount facteur
Host %s
Port %s
User toto
Pass pw
SSLType IMAPS
CertificateFile %s
SystemCertificates no
Timeout 60

IMAPStore facteur-far
Account facteur

MaildirStore facteur-near
Path %s/
Inbox %s

Channel facteur
Far :facteur-far:
Near :facteur-near:
Patterns INBOX
Create Near
Sync All
Expunge None
SyncState *
`, host, port, cert, filepath.Dir(inbox), inbox)
	path := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// maildirMsg is one message file of a Maildir.
type maildirMsg struct {
	path  string
	flags string // the letters after ":2,"
	data  []byte // without the X-TUID field mbsync adds
}

// readMaildir reads the messages in a Maildir's new and cur.
func readMaildir(t *testing.T, dir string) []maildirMsg {
	t.Helper()
	var out []maildirMsg
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			_, flags, _ := strings.Cut(e.Name(), ":2,")
			out = append(out, maildirMsg{path: p, flags: flags, data: withoutTUID(b)})
		}
	}
	return out
}

// maildirWithFlag is a Maildir message's path, in cur, with one more flag
// letter, the letters kept in ASCII order as the Maildir convention asks.
func maildirWithFlag(path string, flag byte) string {
	name := filepath.Base(path)
	base, flags, _ := strings.Cut(name, ":2,")
	f := []byte(flags + string(flag))
	slices.Sort(f)
	f = slices.Compact(f)
	return filepath.Join(filepath.Dir(filepath.Dir(path)), "cur", base+":2,"+string(f))
}

// tuidRE is the field mbsync adds to each message it copies, last in the
// header, to find the copy again: "X-TUID: " and 12 base64 characters.
var tuidRE = regexp.MustCompile(`(?m)^X-TUID: [A-Za-z0-9+/]{12}\n\n`)

// asPulled returns what a message from facteur is in mbsync's Maildir,
// but for the X-TUID field: the same with LF line ends.
func asPulled(msg []byte) []byte {
	return bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
}

// withoutTUID removes mbsync's X-TUID field from the end of a message's
// header, where mbsync puts it.
func withoutTUID(b []byte) []byte {
	head, _, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return b
	}
	loc := tuidRE.FindIndex(b[:len(head)+2])
	if loc == nil || loc[1] != len(head)+2 {
		return b
	}
	return slices.Concat(b[:loc[0]], b[loc[1]-1:])
}
