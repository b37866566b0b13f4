package cleanup

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"facteur/internal/envelope"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func rcpts(addrs ...string) []*envelope.Recipient {
	var rs []*envelope.Recipient
	for _, a := range addrs {
		rs = append(rs, &envelope.Recipient{Addr: a})
	}
	return rs
}

func TestReceivedGolden(t *testing.T) {
	now := time.Date(2026, 11, 27, 23, 14, 58, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		golden string
		env    envelope.Envelope
		now    time.Time
	}{
		{"esmtp_one_rcpt", envelope.Envelope{ID: "0F3A9C2B1D", Recipients: rcpts("bob@example.org"),
			Client: envelope.Client{Helo: "mail.example.com", Name: "mail.example.com",
				Addr: netip.MustParseAddr("192.0.2.1"), Protocol: "ESMTP"}}, now},
		{"unknown_name_two_rcpts", envelope.Envelope{ID: "1A2B3C4D5E", Recipients: rcpts("a@example.org", "b@example.org"),
			Client: envelope.Client{Helo: "[192.0.2.7]", Addr: netip.MustParseAddr("192.0.2.7"), Protocol: "SMTP"}}, now.In(paris)},
		{"ipv6_tls", envelope.Envelope{ID: "ABCDEF0123", Recipients: rcpts("bob@example.org"),
			Client: envelope.Client{Helo: "mx.example.net", Name: "mx.example.net",
				Addr: netip.MustParseAddr("2001:db8::25"), Protocol: "ESMTPS", TLS: "TLS1.3 TLS_AES_128_GCM_SHA256"}}, now},
		{"ipv4_mapped_authenticated", envelope.Envelope{ID: "77AA88BB99", Recipients: rcpts("x@example.org"),
			Client: envelope.Client{Helo: "laptop", Addr: netip.MustParseAddr("::ffff:198.51.100.4"),
				Protocol: "ESMTPSA", TLS: "TLS1.2 ECDHE-RSA-AES128-GCM-SHA256", AuthUser: "alice", Local: true}}, now},
		{"utf8smtp", envelope.Envelope{ID: "5555666677", Recipients: rcpts("josé@exemple.fr"),
			Client: envelope.Client{Helo: "relais.exemple.fr", Name: "relais.exemple.fr",
				Addr: netip.MustParseAddr("203.0.113.9"), Protocol: "UTF8SMTP"}}, now},
		{"hostile_helo", envelope.Envelope{ID: "DEADBEEF00", Recipients: rcpts("bob@example.org"),
			Client: envelope.Client{Helo: "evil)\r\nX-Injected: yes", Addr: netip.MustParseAddr("192.0.2.66"), Protocol: "ESMTP"}}, now},
		{"local_submission", envelope.Envelope{ID: "0000000001", Recipients: rcpts("root@localhost"),
			Client: envelope.Client{AuthUser: "alice", Local: true}}, now},
		{"one_rcpt_expanded", envelope.Envelope{ID: "3C3C3C3C3C", Recipients: []*envelope.Recipient{
			{Addr: "team@example.org", Dest: "alice"}, {Addr: "team@example.org", Dest: "bob"}},
			Client: envelope.Client{Helo: "mail.example.com", Addr: netip.MustParseAddr("192.0.2.1"), Protocol: "ESMTP"}}, now},
		{"hidden_client", *hideClient(&envelope.Envelope{ID: "4D4D4D4D4D", Recipients: rcpts("x@example.org"),
			Client: envelope.Client{Helo: "laptop", Addr: netip.MustParseAddr("198.51.100.4"),
				Protocol: "ESMTPSA", TLS: "TLS1.3 TLS_AES_128_GCM_SHA256", AuthUser: "alice", Local: true}}), now},
		{"local_no_rcpt_user", envelope.Envelope{ID: "0000000002", Recipients: rcpts("a@localhost", "b@localhost"),
			Client: envelope.Client{Protocol: "local", Local: true}}, now},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := Received(&tt.env, "mx.example.org", tt.now)
			checkField(t, got)
			path := filepath.Join("testdata", "received_"+tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create): %v", err)
			}
			if got != string(want) {
				t.Errorf("Received:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// checkField checks the RFC 5322 §2.2 shape of one folded field: CRLF line
// endings only, continuation lines starting with WSP, no empty line.
func checkField(t *testing.T, f string) {
	t.Helper()
	if !strings.HasPrefix(f, "Received: ") || !strings.HasSuffix(f, "\r\n") {
		t.Fatalf("field %q is not a CRLF-terminated Received field", f)
	}
	lines := strings.Split(strings.TrimSuffix(f, "\r\n"), "\r\n")
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("line %d %q holds a bare CR or LF", i, l)
		}
		if i > 0 && (l == "" || (l[0] != '\t' && l[0] != ' ')) {
			t.Errorf("continuation line %d %q does not start with WSP", i, l)
		}
	}
}

func TestTLSComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"TLS1.3 TLS_AES_256_GCM_SHA384", "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))"},
		{"TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256", "(using TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits))"},
		{"TLS1.2 NEW-CIPHER", "(using TLSv1.2 with cipher NEW-CIPHER)"},
		{"TLS1.3 evil)\r\nX: y", "(using TLSv1.3 with cipher evil???X:)"},
		{"TLS1.3", "(using TLSv1.3)"},
		{"  ", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := tlsComment(tt.in); got != tt.want {
			t.Errorf("tlsComment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
