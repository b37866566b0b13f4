// Package systest boots the whole of facteur, the real binary, on
// ephemeral loopback ports in a temporary directory, for integration tests
// that speak real SMTP and look at what was delivered.
package systest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/facteur into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "facteur")
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/facteur")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building facteur: %v\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// System is one running facteur.
type System struct {
	t       testing.TB
	Bin     string
	Dir     string // data_directory
	Config  string // path of main.cf
	SMTP    string // host:port of the SMTP listener
	cmd     *exec.Cmd
	logMu   sync.Mutex
	log     bytes.Buffer
	waitErr chan error
}

// Start writes a main.cf (the given lines after facteur's test defaults:
// data under a temp dir, SMTP on an ephemeral loopback port, local domain
// localhost, remote mail relayed to a closed loopback port) and starts `facteur serve` on it. The server is killed when
// the test ends.
func Start(t testing.TB, bin string, extra ...string) *System {
	t.Helper()
	dir := t.TempDir()
	s := &System{t: t, Bin: bin, Dir: filepath.Join(dir, "data"), Config: filepath.Join(dir, "main.cf")}
	conf := []string{
		"data_directory = " + s.Dir,
		"smtpd_listen = 127.0.0.1:0",
		"myhostname = mail.example.test",
		"mydestination = $myhostname, localhost, example.test",
		"mynetworks = 127.0.0.0/8",
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
		// Remote mail goes to a port where nothing listens, and waits:
		// tests never reach the network. Tests of outbound delivery set
		// their own relayhost (or an empty one, for MX lookups).
		"relayhost = [127.0.0.1]:9",
	}
	conf = append(conf, extra...)
	if err := os.WriteFile(s.Config, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(func() { s.Kill() })
	return s
}

var listenRE = regexp.MustCompile(`SMTP on ([0-9.:\[\]a-f]+)`)

func (s *System) start() {
	s.t.Helper()
	cmd := exec.Command(s.Bin, "serve", "-config", s.Config)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting facteur: %v", err)
	}
	s.cmd = cmd
	s.waitErr = make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); s.waitErr <- err }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.log.WriteString(line + "\n")
			s.logMu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
		if !sent {
			close(found)
		}
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			s.t.Fatalf("facteur exited before listening:\n%s", s.Log())
		}
		s.SMTP = strings.TrimSuffix(addr, ",")
	case <-time.After(30 * time.Second):
		s.t.Fatalf("facteur did not announce its listener within 30s:\n%s", s.Log())
	}
}

// Log returns everything the server printed so far.
func (s *System) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Kill ends the server with SIGKILL: no shutdown, no flushing.
func (s *System) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.waitErr
	s.cmd = nil
}

// Stop sends SIGTERM and returns the exit error (nil for status 0).
func (s *System) Stop() error {
	s.t.Helper()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.waitErr:
		s.cmd = nil
		return err
	case <-time.After(60 * time.Second):
		s.t.Fatalf("facteur did not stop within 60s of SIGTERM:\n%s", s.Log())
		return nil
	}
}

// Restart starts the server again on the same configuration and data.
// The listening port may change.
func (s *System) Restart() {
	s.t.Helper()
	s.start()
}

// Run runs a facteur subcommand on this system's configuration and
// returns its standard output; stdin may be nil.
func (s *System) Run(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin, append(args, "-config", s.Config)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("facteur %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// MustRun is Run that fails the test on error.
func (s *System) MustRun(stdin string, args ...string) string {
	s.t.Helper()
	out, err := s.Run(stdin, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// AddUser creates an account with a password.
func (s *System) AddUser(name, password string) {
	s.t.Helper()
	s.MustRun(password+"\n", "user", "add", name, "--password-stdin")
}

// Count returns the number of messages in an account's INBOX.
func (s *System) Count(account string) int {
	s.t.Helper()
	out := s.MustRun("", "mailbox", "count", account)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		s.t.Fatalf("mailbox count printed %q", out)
	}
	return n
}

// WaitCount waits until account's INBOX holds at least n messages and
// returns the count; it fails the test after timeout.
func (s *System) WaitCount(account string, n int, timeout time.Duration) int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.Count(account)
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s has %d messages, want %d, after %v\n%s", account, got, n, timeout, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RSS returns the server's resident memory in bytes, from /proc.
func (s *System) RSS() (int64, error) {
	if s.cmd == nil {
		return 0, fmt.Errorf("server not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", s.cmd.Process.Pid)
}

// WaitLog waits until the server's output contains want (mail log lines
// are buffered for a moment) and fails the test after timeout.
func (s *System) WaitLog(want string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.Log(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("server output lacks %q after %v:\n%s", want, timeout, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
