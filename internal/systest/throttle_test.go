package systest

import (
	"os/exec"
	"strings"
	"testing"
)

// throttleScript fails logins over IMAP and POP3 from one address, then
// tries the right password on each: past smtpd_auth_failure_limit, counted
// over both protocols, it is refused on both. Arguments: host, IMAP port,
// POP3 port.
const throttleScript = `
import imaplib, poplib, sys
host, iport, pport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def imap_login(pw):
    c = imaplib.IMAP4(host, iport, timeout=30)
    try:
        c.login("toto", pw)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try: c.shutdown()
        except OSError: pass

def pop_login(pw):
    p = poplib.POP3(host, pport, timeout=30)
    try:
        p.user("toto"); p.pass_(pw)
        return True
    except poplib.error_proto:
        return False
    finally:
        p.close()

assert imap_login("pw"), "the right password before any failure"
assert not imap_login("wrong")
assert not imap_login("wrong")
assert not pop_login("wrong")
# Three failures, the limit: the right password is refused everywhere.
assert not imap_login("pw"), "IMAP login allowed after failures over IMAP and POP3"
assert not pop_login("pw"), "POP3 login allowed after failures over IMAP and POP3"
print("ok")
`

// TestLoginThrottleShared checks that SMTP AUTH, POP3 and IMAP share one
// count of failed logins per client address: a guesser gets
// smtpd_auth_failure_limit tries in all, not that many per protocol.
func TestLoginThrottleShared(t *testing.T) {
	py := need(t, "python3")
	s := Start(t, bin, "pop3_listen = 127.0.0.1:0", "imap_listen = 127.0.0.1:0",
		"smtpd_auth_failure_limit = 3", "smtpd_auth_failure_delay = 0s")
	s.AddUser("toto", "pw")
	out, err := exec.Command(py, "-c", throttleScript, "127.0.0.1",
		listenerPort(t, s, "IMAP", 1), listenerPort(t, s, "POP3", 1)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("throttle script: %v\n%s", err, out)
	}
}
