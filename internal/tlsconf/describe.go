package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// suite is what Postfix says of a cipher suite: OpenSSL's name, and the
// cipher's effective and nominal key bits.
type suite struct {
	name          string
	bits, algBits int
}

// suites names every cipher suite that crypto/tls implements, secure or
// not (a client may use the insecure ones with facteur's outbound client).
var suites = map[uint16]suite{
	// TLS 1.3 (RFC 8446 §B.4): OpenSSL uses the IANA names.
	tls.TLS_AES_128_GCM_SHA256:       {"TLS_AES_128_GCM_SHA256", 128, 128},
	tls.TLS_AES_256_GCM_SHA384:       {"TLS_AES_256_GCM_SHA384", 256, 256},
	tls.TLS_CHACHA20_POLY1305_SHA256: {"TLS_CHACHA20_POLY1305_SHA256", 256, 256},

	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       {"ECDHE-ECDSA-AES128-GCM-SHA256", 128, 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       {"ECDHE-ECDSA-AES256-GCM-SHA384", 256, 256},
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: {"ECDHE-ECDSA-CHACHA20-POLY1305", 256, 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          {"ECDHE-ECDSA-AES128-SHA", 128, 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          {"ECDHE-ECDSA-AES256-SHA", 256, 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       {"ECDHE-ECDSA-AES128-SHA256", 128, 128},
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              {"ECDHE-ECDSA-RC4-SHA", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         {"ECDHE-RSA-AES128-GCM-SHA256", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         {"ECDHE-RSA-AES256-GCM-SHA384", 256, 256},
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   {"ECDHE-RSA-CHACHA20-POLY1305", 256, 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            {"ECDHE-RSA-AES128-SHA", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            {"ECDHE-RSA-AES256-SHA", 256, 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         {"ECDHE-RSA-AES128-SHA256", 128, 128},
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           {"ECDHE-RSA-DES-CBC3-SHA", 112, 168},
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                {"ECDHE-RSA-RC4-SHA", 128, 128},
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               {"AES128-GCM-SHA256", 128, 128},
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               {"AES256-GCM-SHA384", 256, 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  {"AES128-SHA", 128, 128},
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  {"AES256-SHA", 256, 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               {"AES128-SHA256", 128, 128},
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 {"DES-CBC3-SHA", 112, 168},
	tls.TLS_RSA_WITH_RC4_128_SHA:                      {"RC4-SHA", 128, 128},
}

// Describe names the version and cipher of a connection, as
// envelope.Client.TLS holds them: "TLS1.3 TLS_AES_128_GCM_SHA256",
// "TLS1.2 ECDHE-ECDSA-AES128-GCM-SHA256".
func Describe(cs tls.ConnectionState) string {
	return version(cs.Version) + " " + suiteOf(cs.CipherSuite).name
}

// ReceivedComment is the text of the comment that Postfix writes in
// Received after the from clause, without its parentheses:
// "using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)".
func ReceivedComment(cs tls.ConnectionState) string {
	return CommentFor(Describe(cs))
}

// CommentFor turns Describe's text (as kept in envelope.Client.TLS) into
// ReceivedComment's: "TLS1.2 ECDHE-RSA-AES128-GCM-SHA256" becomes "using
// TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)". The
// bits are left out for a cipher it does not know; "" gives "".
func CommentFor(desc string) string {
	f := strings.Fields(desc)
	if len(f) == 0 {
		return ""
	}
	v := f[0]
	if n, ok := strings.CutPrefix(v, "TLS"); ok && !strings.HasPrefix(n, "v") {
		v = "TLSv" + n
	}
	s := "using " + v
	if len(f) < 2 {
		return s
	}
	s += " with cipher " + f[1]
	if st, ok := byName[f[1]]; ok {
		s += fmt.Sprintf(" (%d/%d bits)", st.bits, st.algBits)
	}
	return s
}

// byName indexes suites by OpenSSL name.
var byName = func() map[string]suite {
	m := make(map[string]suite, len(suites))
	for _, s := range suites {
		m[s.name] = s
	}
	return m
}()

// suiteOf returns what is known of a suite; an unknown one has Go's name
// (or its number) and no bits.
func suiteOf(id uint16) suite {
	if s, ok := suites[id]; ok {
		return s
	}
	return suite{name: tls.CipherSuiteName(id)}
}

// version is "TLS1.3" for tls.VersionTLS13; Go's name without its space.
func version(v uint16) string {
	return strings.ReplaceAll(tls.VersionName(v), " ", "")
}
