package systest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// need returns the path of an independent client, skipping the test when
// it is absent outside CI; in CI (.ci/run installs it) absence fails.
func need(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: .ci/run must install it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// TestPythonSmtplib sends with Python's smtplib, an SMTP client written
// independently of facteur, and checks what it was told.
func TestPythonSmtplib(t *testing.T) {
	py := need(t, "python3")
	s := Start(t, bin)
	s.AddUser("py", "pw")
	host, port, _ := strings.Cut(s.SMTP, ":")
	script := `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "sender@example.org"
m["To"] = "py@localhost"
m["Subject"] = "from smtplib"
m.set_content("Bonjour.\n")
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=30) as s:
    code, _ = s.ehlo("python.example")
    assert code == 250, code
    assert s.has_extn("pipelining") and s.has_extn("8bitmime") and s.has_extn("size"), s.esmtp_features
    refused = s.send_message(m, to_addrs=["py@localhost"])
    assert refused == {}, refused
    try:
        s.sendmail("sender@example.org", ["nobody@localhost"], "Subject: x\r\n\r\nx\r\n")
        sys.exit("unknown recipient was accepted")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients["nobody@localhost"]
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
print("ok")
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	s.WaitCount("py", 1, 20*time.Second)
	if msg := s.MustRun("", "mailbox", "cat", "py", "1"); !strings.Contains(msg, "Subject: from smtplib") {
		t.Errorf("delivered message:\n%s", msg)
	}
}

// TestSwaks sends with swaks, as the README's tour does, pipelining the
// transaction.
func TestSwaks(t *testing.T) {
	swaks := need(t, "swaks")
	s := Start(t, bin)
	s.AddUser("toto", "pw")
	out, err := exec.Command(swaks, "--server", s.SMTP, "--from", "pascal@example.org",
		"--to", "toto@localhost", "--pipeline", "--header", "Subject: via swaks",
		"--timeout", "30").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
		t.Errorf("swaks transcript lacks the queued reply:\n%s", out)
	}
	s.WaitCount("toto", 1, 20*time.Second)
	if msg := s.MustRun("", "mailbox", "cat", "toto", "1"); !strings.Contains(msg, "Subject: via swaks") {
		t.Errorf("delivered message:\n%s", msg)
	}
}
