package cleanup

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// ownSenders lets an account use the addresses whose local part is its
// name, and records what it was asked.
type ownSenders struct{ asked []string }

func (o *ownSenders) SenderOwned(_ context.Context, c *envelope.Client, sender string) *smtp.Reply {
	o.asked = append(o.asked, sender)
	if local, _, _ := strings.Cut(sender, "@"); local == c.AuthUser {
		return nil
	}
	return smtp.NewReply(553, "5.7.1", "<"+sender+">: Sender address rejected: not owned by user "+c.AuthUser)
}

func authEnv() *envelope.Envelope {
	return &envelope.Envelope{Sender: "toto@example.org", Recipients: rcpts("bob@example.net"),
		Client: envelope.Client{Helo: "laptop", Addr: netip.MustParseAddr("192.0.2.9"), Protocol: "ESMTPSA",
			TLS: "TLS1.3 TLS_AES_128_GCM_SHA256", AuthUser: "toto"}}
}

func TestFromOwnership(t *testing.T) {
	tests := []struct {
		name, header string
		refused      string // the reply's text, "" when accepted
		asked        []string
	}{
		{"own", "From: Toto <toto@example.org>\r\n", "", []string{"toto@example.org"}},
		{"no From", "Subject: x\r\n", "", nil},
		{"other", "From: Bob <bob@example.org>\r\n", "553 5.7.1 <bob@example.org>: Sender address rejected: not owned by user toto", []string{"bob@example.org"}},
		{"list with one other", "From: toto@example.org,\r\n bob@example.org\r\n", "553 5.7.1 <bob@example.org>*", []string{"toto@example.org", "bob@example.org"}},
		{"second From field", "From: toto@example.org\r\nFrom: bob@example.org\r\n", "553 5.7.1 <bob@example.org>*", []string{"toto@example.org", "bob@example.org"}},
		{"does not parse", "From: <<<\r\n", "553 5.7.1 Sender address rejected: From header does not parse*", nil},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 1 << 20} {
			q := &fakeQueue{}
			s := &ownSenders{}
			var log bytes.Buffer
			c := newTestCleanup(q, 0, &log)
			c.opt.Senders = s
			err := runMessage(t, c, authEnv(), tt.header+"\r\nbody\r\n", chunk)
			var r *smtp.Reply
			switch {
			case tt.refused == "" && err != nil:
				t.Errorf("%s: %v", tt.name, err)
			case tt.refused != "" && (!errors.As(err, &r) || !matchText(tt.refused, r.Error())):
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.refused)
			case tt.refused != "" && (!q.files[0].aborted || q.files[0].committed):
				t.Errorf("%s: a refused message was committed", tt.name)
			}
			if strings.Join(s.asked, ",") != strings.Join(tt.asked, ",") {
				t.Errorf("%s: asked %q, want %q", tt.name, s.asked, tt.asked)
			}
		}
	}
}

// matchText matches pattern with a trailing "*" as a prefix.
func matchText(pattern, s string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, p)
	}
	return s == pattern
}

// TestFromUnauthenticated: mail that did not authenticate is not checked.
func TestFromUnauthenticated(t *testing.T) {
	q := &fakeQueue{}
	s := &ownSenders{}
	c := newTestCleanup(q, 0, nil)
	c.opt.Senders = s
	if err := runMessage(t, c, testEnv(false), "From: bob@example.org\r\n\r\nx\r\n", 1<<20); err != nil || len(s.asked) != 0 {
		t.Fatalf("err %v, asked %q", err, s.asked)
	}
}

// TestAuthenticatedSubmission: an authenticated client's message gets
// Message-ID and Date, and with HideClient a Received without its address.
func TestAuthenticatedSubmission(t *testing.T) {
	for _, hide := range []bool{false, true} {
		q := &fakeQueue{}
		c := newTestCleanup(q, 0, nil)
		c.opt.HideClient = hide
		if err := runMessage(t, c, authEnv(), "Subject: x\r\n\r\nbody\r\n", 1<<20); err != nil {
			t.Fatal(err)
		}
		got := q.files[0].buf.String()
		if !strings.Contains(got, "\r\nMessage-ID: <4A5B6C7D8E.") || !strings.Contains(got, "\r\nDate: ") {
			t.Errorf("hide=%v: no Message-ID or Date added:\n%s", hide, got)
		}
		shows := strings.Contains(got, "192.0.2.9") || strings.Contains(got, "laptop")
		if shows == hide {
			t.Errorf("hide=%v: Received shows the client: %v\n%s", hide, shows, got)
		}
		if !strings.Contains(got, "with ESMTPSA id 4A5B6C7D8E") || !strings.Contains(got, "(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits))") {
			t.Errorf("hide=%v: Received lacks the protocol or the TLS comment:\n%s", hide, got)
		}
	}
}
