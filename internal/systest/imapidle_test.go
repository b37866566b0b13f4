package systest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestIMAPIdleMemory holds 1,000 IMAP sessions in IDLE on one INBOX and
// checks the server's resident memory stays under 100 MB (issue: "1,000
// concurrent IDLE connections cost under 100 MB"), and that a delivery
// still reaches them: the first and the last session get EXISTS.
func TestIMAPIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 IMAP sessions")
	}
	// A cheap password hash: 1,000 logins at the default argon2id cost
	// would take a minute, and memory is what is measured here.
	s := Start(t, bin, "imap_listen = 127.0.0.1:0", "password_hash_time = 1",
		"password_hash_memory = 65536", "password_hash_threads = 1")
	s.AddUser("toto", "pw")
	addr := "127.0.0.1:" + listenerPort(t, s, "IMAP", 1)
	const n = 1000
	type idler struct {
		c net.Conn
		r *bufio.Reader
	}
	idlers := make([]idler, 0, n)
	defer func() {
		for _, i := range idlers {
			i.c.Close()
		}
	}()
	expect := func(r *bufio.Reader, prefix string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, prefix) {
				return nil
			}
			if strings.HasPrefix(line, "i ") {
				return fmt.Errorf("got %q waiting for %q", line, prefix)
			}
		}
	}
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		r := bufio.NewReader(c)
		idlers = append(idlers, idler{c, r})
		fmt.Fprintf(c, "l LOGIN toto pw\r\ns SELECT INBOX\r\ni IDLE\r\n")
		if err := expect(r, "+ "); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	rss, err := s.RSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resident memory with %d IDLE sessions: %.1f MB", n, float64(rss)/1e6)
	if rss > 100<<20 {
		t.Errorf("resident memory %d bytes with %d IDLE sessions, want under 100 MB", rss, n)
	}
	c := dial(t, s.SMTP)
	c.cmd("EHLO client.example", "250")
	c.send("pascal@example.org", []string{"toto@localhost"}, "Subject: wake up\r\n\r\nx\r\n")
	for _, i := range []idler{idlers[0], idlers[n-1]} {
		i.c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := expect(i.r, "* 1 EXISTS"); err != nil {
			t.Errorf("an IDLE session after a delivery: %v", err)
		}
	}
}
