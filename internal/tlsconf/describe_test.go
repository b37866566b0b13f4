package tlsconf

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		version, suite uint16
		describe       string
		comment        string
	}{
		{tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256,
			"TLS1.3 TLS_AES_128_GCM_SHA256", "using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)"},
		{tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384,
			"TLS1.3 TLS_AES_256_GCM_SHA384", "using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"},
		{tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256,
			"TLS1.3 TLS_CHACHA20_POLY1305_SHA256", "using TLSv1.3 with cipher TLS_CHACHA20_POLY1305_SHA256 (256/256 bits)"},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			"TLS1.2 ECDHE-RSA-AES128-GCM-SHA256", "using TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)"},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			"TLS1.2 ECDHE-ECDSA-AES256-GCM-SHA384", "using TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 (256/256 bits)"},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
			"TLS1.2 ECDHE-RSA-CHACHA20-POLY1305", "using TLSv1.2 with cipher ECDHE-RSA-CHACHA20-POLY1305 (256/256 bits)"},
		{tls.VersionTLS12, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
			"TLS1.2 DES-CBC3-SHA", "using TLSv1.2 with cipher DES-CBC3-SHA (112/168 bits)"},
		{tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
			"TLS1.1 ECDHE-RSA-AES256-SHA", "using TLSv1.1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)"},
		{tls.VersionTLS12, 0x1234, "TLS1.2 0x1234", "using TLSv1.2 with cipher 0x1234"},
	}
	for _, tt := range tests {
		cs := tls.ConnectionState{Version: tt.version, CipherSuite: tt.suite}
		if got := Describe(cs); got != tt.describe {
			t.Errorf("Describe(%x, %x) = %q; want %q", tt.version, tt.suite, got, tt.describe)
		}
		if got := ReceivedComment(cs); got != tt.comment {
			t.Errorf("ReceivedComment(%x, %x) = %q; want %q", tt.version, tt.suite, got, tt.comment)
		}
	}
}

func TestCommentFor(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"TLS1.3", "using TLSv1.3"},
		{"TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256", "using TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)"},
		{"TLS1.3 UNKNOWN-CIPHER", "using TLSv1.3 with cipher UNKNOWN-CIPHER"},
	}
	for _, tt := range tests {
		if got := CommentFor(tt.in); got != tt.want {
			t.Errorf("CommentFor(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestSuitesCoverGo fails when crypto/tls gains a cipher suite that
// Describe would name only by Go's name.
func TestSuitesCoverGo(t *testing.T) {
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, cs := range all {
		s, ok := suites[cs.ID]
		if !ok {
			t.Errorf("no OpenSSL name for %s", cs.Name)
			continue
		}
		if s.bits == 0 || s.algBits < s.bits {
			t.Errorf("%s: bits %d/%d", s.name, s.bits, s.algBits)
		}
		tls13 := len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13
		if tls13 != (s.name == cs.Name) {
			t.Errorf("%s named %s: OpenSSL uses the IANA name for TLS 1.3 suites only", cs.Name, s.name)
		}
	}
	if len(byName) != len(suites) {
		t.Errorf("%d names for %d suites: a name is used twice", len(byName), len(suites))
	}
}

// TestDescribeHandshake describes real connections of each version.
func TestDescribeHandshake(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir(), Hostname: "mail.example.org"})
	tests := []struct {
		name   string
		client *tls.Config
		want   string
	}{
		{"TLS 1.2", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, "TLS1.2 ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"TLS 1.3", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, "TLS1.3 TLS_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := handshake(t, c.Config(), tt.client)
			if err != nil {
				t.Fatal(err)
			}
			cs := cc.ConnectionState()
			if got := Describe(cs); !strings.HasPrefix(got, tt.want) {
				t.Errorf("Describe = %q; want %q...", got, tt.want)
			}
			if got := ReceivedComment(cs); !strings.HasSuffix(got, " bits)") || !strings.HasPrefix(got, "using TLSv1.") {
				t.Errorf("ReceivedComment = %q", got)
			}
		})
	}
}
