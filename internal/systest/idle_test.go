package systest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestIdleConnectionsMemory holds 1,000 idle SMTP sessions open and checks
// the server's resident memory stays under 50 MB, and that a new client
// is still served meanwhile.
func TestIdleConnectionsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	s := Start(t, bin, "smtpd_client_connection_count_limit = 0")
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", s.SMTP, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d: greeting %q, %v", i, line, err)
		}
	}
	rss, err := s.RSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resident memory with %d idle sessions: %.1f MB", n, float64(rss)/1e6)
	if rss > 50<<20 {
		t.Errorf("resident memory %d bytes with %d idle sessions, want under 50 MB", rss, n)
	}
	c := dial(t, s.SMTP)
	c.cmd("NOOP", "250 ")
}
