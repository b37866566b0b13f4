package policy

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/smtp"
)

func TestVerify(t *testing.T) {
	tests := []struct {
		arg  string
		want string
	}{
		{"toto", "250 2.0.0 <toto@exemple1.com>"},
		{"Toto@Exemple2.com", "250 2.0.0 <Toto@exemple2.com>"},
		{"<toto@exemple2.com>", "250 2.0.0 <toto@exemple2.com>"},
		{"Toto Tata <toto@exemple2.com>", "250 2.0.0 <toto@exemple2.com>"},
		{"<postmaster>", "250 2.0.0 <postmaster>"},
		{"info", "250 2.0.0 <info@exemple1.com>"},
		{"remote", "252 2.0.0 <remote@exemple1.com>"},
		{"someone@relay.example", "252 2.0.0 <someone@relay.example>"},
		{"unknown", "550 5.1.1 <unknown@exemple1.com>: Recipient address rejected: User unknown in local recipient table"},
		{"nobody@valias.example", "550 5.1.1 <nobody@valias.example>: Recipient address rejected: User unknown in virtual alias table"},
		{"x@other.example", "554 5.7.1 <x@other.example>: Relay access denied"},
		{"kaput", "451 4.3.0 <kaput@exemple1.com>: Temporary lookup failure"},
		{"", "501 5.5.4 Syntax: VRFY address"},
		{"  ", "501 5.5.4 Syntax: VRFY address"},
		{"<>", "501 5.5.4 Syntax: VRFY address"},
		{"bad address@x", "501 5.5.4 Syntax: VRFY address"},
		{"toto@toto$.fr", "501 5.5.4 Syntax: VRFY address"},
	}
	p := New(testConfig())
	for _, tt := range tests {
		if got := p.Verify(context.Background(), stranger, tt.arg).Error(); got != tt.want {
			t.Errorf("Verify(%q) = %q, want %q", tt.arg, got, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		arg  string
		want *smtp.Reply
	}{
		{"info", &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"<toto@exemple1.com>", "<petit@exemple1.com>"}}},
		{"<info@exemple2.com>", &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"<toto@exemple1.com>", "<petit@exemple1.com>"}}},
		// Command and file targets are never listed (they would tell
		// anyone what runs here); with none left, the alias is verified.
		{"pipe", smtp.NewReply(250, "2.0.0", "<pipe@exemple1.com>")},
		{"file", smtp.NewReply(250, "2.0.0", "<file@exemple1.com>")},
		{"mixed", &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"<toto@exemple1.com>", "<someone@elsewhere.example>"}}},
		{"remote", &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"<someone@elsewhere.example>"}}},
		{"sales@valias.example", &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"<toto@exemple1.com>", "<bob@vmail.example>"}}},
		{"toto", smtp.NewReply(250, "2.0.0", "<toto@exemple1.com>")},
		{"bob@vmail.example", smtp.NewReply(250, "2.0.0", "<bob@vmail.example>")},
		{"someone@relay.example", smtp.NewReply(252, "2.0.0", "<someone@relay.example>")},
		{"unknown", smtp.NewReply(550, "5.1.1", "<unknown@exemple1.com>: Recipient address rejected: User unknown in local recipient table")},
		{"", smtp.NewReply(501, "5.5.4", "Syntax: EXPN address")},
	}
	p := New(testConfig())
	for _, tt := range tests {
		got := p.Expand(context.Background(), stranger, tt.arg)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Expand(%q) (-want +got):\n%s", tt.arg, diff)
		}
	}
}

func TestSoftBounceVerify(t *testing.T) {
	cfg := testConfig()
	cfg.SoftBounce = true
	got := New(cfg).Verify(context.Background(), stranger, "unknown").Error()
	want := "450 4.1.1 <unknown@exemple1.com>: Recipient address rejected: User unknown in local recipient table"
	if got != want {
		t.Errorf("Verify with soft_bounce = %q, want %q", got, want)
	}
}
