package systest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sendmail runs bin (facteur, or a link to it) with args on s's
// configuration, and returns its output and exit status.
func sendmail(t *testing.T, s *System, bin string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "FACTEUR_CONFIG="+s.Config)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return out.String(), errb.String(), code
}

// inbox returns the messages of account's INBOX, concatenated.
func inbox(s *System, account string) string {
	var all strings.Builder
	for uid := 1; uid <= s.Count(account); uid++ {
		all.WriteString(s.MustRun("", "mailbox", "cat", account, strconv.Itoa(uid)))
	}
	return all.String()
}

func TestSendmailDelivers(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("toto", "pw")
	s.AddUser("titi", "pw")
	s.AddUser("tata", "pw")
	link := filepath.Join(t.TempDir(), "sendmail")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}

	_, errOut, code := sendmail(t, s, bin, "Subject: one\n\nhello toto\n", "sendmail", "-F", "Jean Test", "toto")
	if code != 0 {
		t.Fatalf("sendmail toto: exit %d: %s", code, errOut)
	}
	s.WaitCount("toto", 1, 30*time.Second)
	msg := inbox(s, "toto")
	for _, want := range []string{"with local id", "From: \"Jean Test\" <", "Subject: one", "Message-ID: <", "Date: ", "hello toto"} {
		if !strings.Contains(msg, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, msg)
		}
	}
	s.WaitLog("uid=", 30*time.Second)

	// -t, through a link named sendmail: Bcc gets it and is not shown.
	_, errOut, code = sendmail(t, s, link, "To: titi\nBcc: Tata <tata@localhost>\nSubject: two\n\nhello\n.\nnot this\n", "-t", "-f", "<>")
	if code != 0 {
		t.Fatalf("sendmail -t: exit %d: %s", code, errOut)
	}
	s.WaitCount("titi", 1, 30*time.Second)
	s.WaitCount("tata", 1, 30*time.Second)
	for _, who := range []string{"titi", "tata"} {
		msg := inbox(s, who)
		if strings.Contains(msg, "Bcc") || strings.Contains(msg, "not this") || !strings.Contains(msg, "Subject: two") {
			t.Errorf("%s's copy of the -t message:\n%s", who, msg)
		}
	}

	// -bs: an SMTP dialogue on standard input and output.
	dialog := "EHLO me\r\nMAIL FROM:<me@localhost>\r\nRCPT TO:<toto@localhost>\r\nDATA\r\nSubject: three\r\n\r\nby smtp\r\n.\r\nQUIT\r\n"
	out, errOut, code := sendmail(t, s, bin, dialog, "sendmail", "-bs")
	if code != 0 || !strings.Contains(out, "250 2.0.0 Ok: queued as") || !strings.Contains(out, "221 ") {
		t.Fatalf("sendmail -bs: exit %d, output:\n%s\n%s", code, out, errOut)
	}
	s.WaitCount("toto", 2, 30*time.Second)

	// A malformed address: exit 65 or 64, and why on stderr.
	_, errOut, code = sendmail(t, s, bin, "x\n", "sendmail", "bad@@address")
	if (code != 65 && code != 64) || !strings.Contains(errOut, "bad@@address") {
		t.Errorf("malformed recipient: exit %d, stderr %q", code, errOut)
	}

	// -bp and mailq list the queue.
	out, errOut, code = sendmail(t, s, bin, "", "sendmail", "-bp")
	if code != 0 || !(strings.Contains(out, "Mail queue is empty") || strings.Contains(out, "-Queue ID-")) {
		t.Errorf("sendmail -bp: exit %d, %q %q", code, out, errOut)
	}
}

func TestSendmailUnknownUserBounces(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("toto", "pw")
	_, errOut, code := sendmail(t, s, bin, "Subject: lost\n\nx\n", "sendmail", "-f", "toto@localhost", "nobody")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Postfix's way: accepted, then a notice to the sender.
	s.WaitCount("toto", 1, 30*time.Second)
	if msg := inbox(s, "toto"); !strings.Contains(msg, "nobody@") {
		t.Errorf("the notice does not name the unknown recipient:\n%s", msg)
	}
}

func TestSendmailWhileServerIsDown(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("toto", "pw")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := sendmail(t, s, bin, "Subject: later\n\nwritten while down\n", "sendmail", "toto")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("sendmail with the server down: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	dialog := "HELO me\r\nMAIL FROM:<>\r\nRCPT TO:<toto@localhost>\r\nDATA\r\nSubject: bs\r\n\r\nby offline smtp\r\n.\r\nQUIT\r\n"
	if out, errOut, code := sendmail(t, s, bin, dialog, "sendmail", "-bs"); code != 0 || !strings.Contains(out, "250 Ok") {
		t.Fatalf("sendmail -bs with the server down: exit %d, output:\n%s\n%s", code, out, errOut)
	}
	drop := filepath.Join(s.Dir, "maildrop")
	if n := countFiles(t, drop); n != 2 {
		t.Fatalf("maildrop holds %d files, want 2", n)
	}
	s.Restart()
	s.WaitCount("toto", 2, 30*time.Second)
	msg := inbox(s, "toto")
	for _, want := range []string{"written while down", "by offline smtp", "with local id"} {
		if !strings.Contains(msg, want) {
			t.Errorf("delivered mail lacks %q:\n%s", want, msg)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for countFiles(t, drop) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := countFiles(t, drop); n != 0 {
		t.Errorf("maildrop still holds %d files after delivery", n)
	}
}

// countFiles counts the regular files directly in dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() {
			n++
		}
	}
	return n
}
