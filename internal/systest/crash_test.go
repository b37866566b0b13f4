package systest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKill9LosesNothingAcknowledged sends from concurrent sessions, kills
// the server with SIGKILL in the middle of the load, restarts it, and
// checks that every message that got its 250 is delivered.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	s := Start(t, bin)
	s.AddUser("crash", "pw")
	const sessions, perSession, killAfter = 8, 60, 50
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		kill  = make(chan struct{})
		once  sync.Once
	)
	addr := s.SMTP
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perSession; j++ {
				subject := fmt.Sprintf("crash-%d-%d", i, j)
				if err := sendOne(addr, "crash@localhost", subject); err != nil {
					return // the server died under us: expected
				}
				mu.Lock()
				acked = append(acked, subject)
				if len(acked) == killAfter {
					once.Do(func() { close(kill) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-kill:
	case <-time.After(60 * time.Second):
		t.Fatalf("fewer than %d messages acknowledged in 60s", killAfter)
	}
	s.Kill()
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	t.Logf("%d messages acknowledged before SIGKILL", n)

	s.Restart()
	s.WaitCount("crash", n, 60*time.Second)
	// Every acknowledged message is there, once: local delivery is keyed
	// by queue ID, so a delivery repeated after the crash is a no-op.
	seen := map[string]int{}
	for _, line := range strings.Split(s.MustRun("", "mailbox", "list", "crash"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[len(f)-1], "crash-") {
			seen[f[len(f)-1]]++
		}
	}
	for _, subject := range acked {
		switch seen[subject] {
		case 0:
			t.Errorf("acknowledged message %s was lost", subject)
		case 1:
		default:
			t.Errorf("acknowledged message %s was delivered %d times", subject, seen[subject])
		}
	}
}

// sendOne sends one message on its own connection; it returns an error
// unless the message got its 250 after DATA.
func sendOne(addr, rcpt, subject string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	step := func(cmd, want string) error {
		if cmd != "" {
			if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
				return err
			}
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if len(line) >= 4 && line[3] == '-' {
				continue
			}
			if !strings.HasPrefix(line, want) {
				return fmt.Errorf("%q: got %q", cmd, line)
			}
			return nil
		}
	}
	for _, st := range [][2]string{
		{"", "220"}, {"EHLO load.example", "250"}, {"MAIL FROM:<load@example.org>", "250"},
		{"RCPT TO:<" + rcpt + ">", "250"}, {"DATA", "354"},
		{"Subject: " + subject + "\r\n\r\n" + strings.Repeat("x", 200) + "\r\n.", "250"},
	} {
		if err := step(st[0], st[1]); err != nil {
			return err
		}
	}
	step("QUIT", "221")
	return nil
}
