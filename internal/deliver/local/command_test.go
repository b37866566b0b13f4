package local

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// writeScript writes an executable shell script and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommandDelivery(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	script := writeScript(t, `cat > "$1"; echo "$SENDER|$RECIPIENT|$LOCAL|$DOMAIN|$(pwd)" > "$1.env"`)
	d := newDeliverer(nil, nil, Options{})
	r := rcpt("list@example.org", "|"+script+" "+out, "")
	got := d.deliver(context.Background(), newMessage(t, "alice@example.com", testMessage), []*envelope.Recipient{r})
	want := queue.Result{Status: queue.Delivered, DSN: "2.0.0", Text: "delivered to command: " + script + " " + out, Relay: "local"}
	if got[0] != want {
		t.Fatalf("result %+v, want %+v", got[0], want)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wantIn := "Return-Path: <alice@example.com>\nDelivered-To: list@example.org\n" +
		strings.ReplaceAll(testMessage, "\r\n", "\n")
	if string(b) != wantIn {
		t.Errorf("command read:\n%q\nwant\n%q", b, wantIn)
	}
	env, err := os.ReadFile(out + ".env")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(env), "alice@example.com|list@example.org|list|example.org|/\n"; got != want {
		t.Errorf("environment %q, want %q", got, want)
	}
}

func TestCommandFailures(t *testing.T) {
	tests := []struct {
		name    string
		command string
		status  queue.Status
		dsn     string
		text    string // substring of the result text
	}{
		{"EX_NOUSER bounces", `echo "no such user here"; exit 67`, queue.Bounced, "5.1.1",
			`command died with status 67 (user unknown): "SCRIPT". Command output: no such user here`},
		{"EX_TEMPFAIL defers", `echo busy >&2; exit 75`, queue.Deferred, "4.3.0", "status 75 (temporary failure)"},
		{"EX_OSERR defers", `exit 71`, queue.Deferred, "4.3.0", "status 71"},
		{"EX_CANTCREAT bounces", `exit 73`, queue.Bounced, "5.2.0", "status 73"},
		{"other status bounces", `exit 1`, queue.Bounced, "5.3.0", "status 1 (unknown mail system error)"},
		{"ignores its input", `exit 0`, queue.Delivered, "2.0.0", "delivered to command"},
		{"killed by a signal defers", `exec kill -9 $$`, queue.Deferred, "4.3.0", "signal 9"},
		{"not found bounces", `/nonexistent/program`, queue.Bounced, "5.3.0", "status 127"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := writeScript(t, tt.command+"\n")
			dest := "|" + script
			if strings.HasPrefix(tt.command, "exec ") {
				dest = "|" + tt.command // the shell itself gets the signal
			}
			d := newDeliverer(nil, nil, Options{})
			got := d.deliver(context.Background(), newMessage(t, "a@b", testMessage+strings.Repeat("x", 200<<10)),
				[]*envelope.Recipient{rcpt("c@example.org", dest, "")})[0]
			text := strings.ReplaceAll(tt.text, "SCRIPT", script)
			if got.Status != tt.status || got.DSN != tt.dsn || !strings.Contains(got.Text, text) {
				t.Errorf("result %+v, want status %d dsn %s text containing %q", got, tt.status, tt.dsn, text)
			}
		})
	}
}

func TestCommandTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The shell leaves a child behind: the whole process group must die.
	script := writeScript(t, "sleep 60 &\necho $! > "+pidFile+"\nwait\n")
	d := newDeliverer(nil, nil, Options{CommandTimeout: 300 * time.Millisecond})
	got := d.deliver(context.Background(), newMessage(t, "a@b", testMessage),
		[]*envelope.Recipient{rcpt("c@example.org", "|"+script, "")})[0]
	want := queue.Result{Status: queue.Deferred, DSN: "4.3.0", Text: "command time limit exceeded", Relay: "local"}
	if got != want {
		t.Fatalf("result %+v, want %+v", got, want)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child was killed; it may linger as a zombie of its dead parent
	// for a moment until init reaps it, which signal 0 still reports.
	for range 50 {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("the command's child %d survived the time limit", pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func TestBoundedOutput(t *testing.T) {
	b := &boundedBuffer{max: 10}
	for range 3 {
		if n, err := b.Write([]byte("0123456")); n != 7 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := string(b.bytes()); got != "0123456012" {
		t.Errorf("kept %q", got)
	}
}
