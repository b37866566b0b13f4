package policy

import (
	"context"
	"testing"

	"facteur/internal/envelope"
)

func TestSenderOwned(t *testing.T) {
	cfg := testConfig()
	cfg.SenderLogins = fakeTable{
		m: map[string]string{
			"boss@elsewhere.example": "petit, toto",
			"@shared.example":        "toto",
			"toto@exemple2.com":      "petit", // the map adds owners; it takes none away
		},
		fail: map[string]bool{"tmp@broken.example": true},
	}
	p := New(cfg)
	tests := []struct {
		user, sender, want string // want: "" for owned, else the reply
	}{
		{"toto", "toto@exemple1.com", ""},
		{"toto", "Toto@EXEMPLE2.com", ""},
		{"toto", "toto+lists@localhost", ""},
		{"toto", "root@exemple1.com", ""},         // alias to toto only
		{"toto", "direct@exemple1.com", ""},       // \toto
		{"toto", "deep10@exemple1.com", ""},       // a chain that ends at toto
		{"toto", "anything@catchall.example", ""}, // virtual catch-all to toto
		{"toto", "remote@elsewhere.example", ""},  // virtual alias to toto
		{"toto", "boss@elsewhere.example", ""},    // smtpd_sender_login_maps
		{"toto", "x@shared.example", ""},          // smtpd_sender_login_maps @domain
		{"petit", "toto@exemple2.com", ""},
		{"bob@vmail.example", "bob@vmail.example", ""},
		{"toto", "info@exemple1.com", "553 5.7.1 <info@exemple1.com>: Sender address rejected: not owned by user toto"}, // toto and petit
		{"toto", "petit@exemple1.com", "553 5.7.1 <petit@exemple1.com>: Sender address rejected: not owned by user toto"},
		{"toto", "mixed@exemple1.com", "553 5.7.1 <mixed@exemple1.com>: Sender address rejected: not owned by user toto"},
		{"toto", "pipe@exemple1.com", "553 5.7.1 <pipe@exemple1.com>: Sender address rejected: not owned by user toto"},
		{"toto", "toto@elsewhere.example", "553 5.7.1 <toto@elsewhere.example>: Sender address rejected: not owned by user toto"},
		{"toto", "nobody@exemple1.com", "553 5.7.1 <nobody@exemple1.com>: Sender address rejected: not owned by user toto"},
		{"toto", "loop1@exemple1.com", "553 5.7.1 <loop1@exemple1.com>: Sender address rejected: not owned by user toto"},
		{"toto", "bad address", "553 5.7.1 <bad address>: Sender address rejected: not owned by user toto"},
		{"toto", "tmp@valias.example", "451 4.3.0 <tmp@valias.example>: Sender address rejected: Temporary lookup failure"},
		{"toto", "tmp@broken.example", "451 4.3.0 <tmp@broken.example>: Sender address rejected: Temporary lookup failure"},
	}
	for _, tt := range tests {
		r := p.SenderOwned(context.Background(), &envelope.Client{AuthUser: tt.user}, tt.sender)
		got := ""
		if r != nil {
			got = r.Error()
		}
		if got != tt.want {
			t.Errorf("SenderOwned(%s, %s) = %q, want %q", tt.user, tt.sender, got, tt.want)
		}
	}
	if r := p.SenderOwned(context.Background(), &envelope.Client{}, "anyone@elsewhere.example"); r != nil {
		t.Errorf("unauthenticated client: %v, want nil", r)
	}
}
