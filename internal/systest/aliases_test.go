package systest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAliases delivers through an aliases file: a list, a pipe, an mbox
// file and a remote target, and answers EXPN from it.
func TestAliases(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "piped")
	mbox := filepath.Join(dir, "archive.mbox")
	aliases := filepath.Join(dir, "aliases")
	text := "# test aliases\n" +
		"postmaster: toto\n" +
		"team: toto,\n  titi\n" +
		"pipe: \"|cat > " + out + "\"\n" +
		"archive: " + mbox + "\n" +
		"far: someone@elsewhere.example\n"
	if err := os.WriteFile(aliases, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Start(t, bin, "alias_maps = "+aliases)
	s.AddUser("toto", "pw")
	s.AddUser("titi", "pw")

	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250 ")
	if got := c.cmd("EXPN team", "250 "); !strings.Contains(got, "titi") {
		t.Errorf("EXPN team ends with %q", got)
	}
	c.send("a@example.org", []string{"team@localhost"}, "Subject: to the team\r\n\r\nhi\r\n")
	c.send("a@example.org", []string{"pipe@localhost"}, "Subject: to a pipe\r\n\r\npiped body\r\n")
	c.send("a@example.org", []string{"archive@localhost"}, "Subject: to a file\r\n\r\nFrom the start\r\n")
	id := c.send("a@example.org", []string{"far@localhost"}, "Subject: far away\r\n\r\nx\r\n")

	s.WaitCount("toto", 1, 20*time.Second)
	s.WaitCount("titi", 1, 20*time.Second)
	waitFile(t, out, "piped body")
	waitFile(t, mbox, "\n>From the start")
	if b, _ := os.ReadFile(mbox); !strings.HasPrefix(string(b), "From a@example.org ") {
		t.Errorf("mbox does not start with a From line:\n%s", b)
	}
	q := s.MustRun("", "queue", "list")
	if !strings.Contains(q, id) || !strings.Contains(q, "far@localhost") {
		t.Errorf("the remote alias target is not waiting in the queue:\n%s", q)
	}
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not contain %q:\n%s", path, want, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
