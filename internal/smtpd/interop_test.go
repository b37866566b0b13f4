package smtpd

import (
	netsmtp "net/smtp"
	"testing"
)

// TestGoNetSMTP sends a message with Go's net/smtp, an independent client
// that reads the EHLO keywords and adds BODY=8BITMIME and SMTPUTF8.
func TestGoNetSMTP(t *testing.T) {
	ts := startServer(t, baseConfig(), &fakePolicy{}, &fakeSink{})
	msg := "Subject: interop\r\n\r\n.dot first\r\nbye\r\n"
	if err := netsmtp.SendMail(ts.addr, nil, "a@example.com", []string{"b@example.org", "c@example.org"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	ts.stop(t)
	m := ts.sink.last()
	if m == nil {
		t.Fatal("nothing queued")
	}
	if got := m.data.String(); got != msg {
		t.Errorf("queued %q, want %q", got, msg)
	}
	if m.env.Body != "8BITMIME" || !m.env.SMTPUTF8 || len(m.env.Recipients) != 2 {
		t.Errorf("envelope body %q smtputf8 %v recipients %d", m.env.Body, m.env.SMTPUTF8, len(m.env.Recipients))
	}
}
