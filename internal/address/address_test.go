package address

import (
	"errors"
	"strings"
	"testing"
)

func TestParseForwardPathGood(t *testing.T) {
	tests := []struct {
		path     string
		smtputf8 bool
		want     Address
	}{
		{"<pascal.petit@shayol.org>", false, Address{"pascal.petit", "shayol.org"}},
		{"<pascal.petit@Shayol.org>", false, Address{"pascal.petit", "shayol.org"}},
		{"<Pascal.Petit@shayol.org>", false, Address{"Pascal.Petit", "shayol.org"}},
		{"<petit+adieve@shayol.org>", false, Address{"petit+adieve", "shayol.org"}},
		{`<"Pascal Petit"@foo.fr>`, false, Address{"Pascal Petit", "foo.fr"}},
		{`<"a\"b\\c"@foo.fr>`, false, Address{`a"b\c`, "foo.fr"}},
		{`<"abc"@foo.fr>`, false, Address{"abc", "foo.fr"}},
		{`<""@foo.fr>`, false, Address{"", "foo.fr"}},
		{"<petit@[81.56.171.187]>", false, Address{"petit", "[81.56.171.187]"}},
		{"<petit@[081.056.171.187]>", false, Address{"petit", "[81.56.171.187]"}},
		{"<user@[IPv6:2001:db8::1]>", false, Address{"user", "[IPv6:2001:db8::1]"}},
		{"<user@[ipv6:2001:DB8:0:0:0:0:0:1]>", false, Address{"user", "[IPv6:2001:db8::1]"}},
		{"<Cécile@toto.fr>", true, Address{"Cécile", "toto.fr"}},
		{"<user@Bücher.example>", true, Address{"user", "bücher.example"}},
		{"<user@xn--bcher-kva.example>", false, Address{"user", "bücher.example"}},
		{"<user@XN--BCHER-KVA.example>", false, Address{"user", "bücher.example"}},
		{"<postmaster>", false, Address{"postmaster", ""}},
		{"<PostMaster>", false, Address{"postmaster", ""}},
		{"<@relay.example,@b.example:user@d.example>", false, Address{"user", "d.example"}},
		{"<@relay.example:user@d.example>", false, Address{"user", "d.example"}},
		{"<a!#$%&'*+-/=?^_`{|}~@x.example>", false, Address{"a!#$%&'*+-/=?^_`{|}~", "x.example"}},
		{"<" + strings.Repeat("a", 64) + "@x.example>", false, Address{strings.Repeat("a", 64), "x.example"}},
		{"<u@1.example>", false, Address{"u", "1.example"}},
	}
	for _, tt := range tests {
		got, err := ParseForwardPath(tt.path, tt.smtputf8)
		if err != nil {
			t.Errorf("ParseForwardPath(%q) error: %v", tt.path, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseForwardPath(%q) = %#v, want %#v", tt.path, got, tt.want)
		}
	}
}

func TestParseForwardPathBad(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		path     string
		smtputf8 bool
		want     error
	}{
		{"<Pascal Petit@foo.fr>", false, ErrSyntax},
		{"<petit@toto$.fr>", false, ErrSyntax},
		{"<Cécile@toto.fr>", false, ErrNeedsSMTPUTF8},
		{"<user@bücher.example>", false, ErrNeedsSMTPUTF8},
		{"<>", false, ErrSyntax},
		{"", false, ErrSyntax},
		{"user@foo.fr", false, ErrSyntax},
		{"<user@foo.fr", false, ErrSyntax},
		{"<user>", false, ErrSyntax},
		{"<user@>", false, ErrSyntax},
		{"<@foo.fr>", false, ErrSyntax},
		{"<.user@foo.fr>", false, ErrSyntax},
		{"<user.@foo.fr>", false, ErrSyntax},
		{"<us..er@foo.fr>", false, ErrSyntax},
		{"<user@foo..fr>", false, ErrSyntax},
		{"<user@foo.fr.>", false, ErrSyntax},
		{"<user@-foo.fr>", false, ErrSyntax},
		{"<user@foo-.fr>", false, ErrSyntax},
		{"<user@foo_bar.fr>", false, ErrSyntax},
		{"<us\x00er@foo.fr>", false, ErrSyntax},
		{"<user@foo.fr\r\n>", false, ErrSyntax},
		{"<\"a\nb\"@foo.fr>", false, ErrSyntax},
		{"<\"ab@foo.fr>", false, ErrSyntax},
		{"<\"a\"b@foo.fr>", false, ErrSyntax},
		{"<a@b@foo.fr>", false, ErrSyntax},
		{"<\xff@foo.fr>", true, ErrSyntax},
		{"<user@[1.2.3]>", false, ErrSyntax},
		{"<user@[1.2.3.256]>", false, ErrSyntax},
		{"<user@[1.2.3.4.5]>", false, ErrSyntax},
		{"<user@[IPv6:1.2.3.4]>", false, ErrSyntax},
		{"<user@[IPv6:fe80::1%eth0]>", false, ErrSyntax},
		{"<user@[x400:foo]>", false, ErrSyntax},
		{"<user@[1.2.3.4>", false, ErrSyntax},
		{"<user@xn--zzzzzzz-.example>", false, ErrSyntax},
		{"<user@xn--abc.example>", false, ErrSyntax},
		{"<@a.example user@foo.fr>", false, ErrSyntax},
		{"<@a$.example:user@foo.fr>", false, ErrSyntax},
		{"<a.example:user@foo.fr>", false, ErrSyntax},
		{"<" + strings.Repeat("a", 65) + "@x.example>", false, ErrSyntax},
		{"<a@" + strings.Repeat("b", 64) + ".example>", false, ErrSyntax},
		{"<a@" + long + "." + long + "." + long + "." + long + ".ex>", false, ErrSyntax}, // domain > 255
		{"<" + strings.Repeat("a", 64) + "@" + long + "." + long + "." + long + "." + strings.Repeat("b", 60) + ">", false, ErrSyntax}, // path > 256
	}
	for _, tt := range tests {
		got, err := ParseForwardPath(tt.path, tt.smtputf8)
		if !errors.Is(err, tt.want) {
			t.Errorf("ParseForwardPath(%q) = %#v, %v; want error %v", tt.path, got, err, tt.want)
		}
	}
}

func TestParseReversePath(t *testing.T) {
	a, err := ParseReversePath("<>", false)
	if err != nil || !a.IsZero() || a.String() != "" {
		t.Errorf(`ParseReversePath("<>") = %#v, %v; want zero`, a, err)
	}
	a, err = ParseReversePath("<Pascal.Petit@Shayol.ORG>", false)
	if err != nil || a != (Address{"Pascal.Petit", "shayol.org"}) {
		t.Errorf("ParseReversePath = %#v, %v", a, err)
	}
	if _, err := ParseReversePath("<postmaster>", false); !errors.Is(err, ErrSyntax) {
		t.Errorf("ParseReversePath(<postmaster>) error = %v, want ErrSyntax", err)
	}
	if _, err := ParseReversePath("<Cécile@toto.fr>", false); !errors.Is(err, ErrNeedsSMTPUTF8) {
		t.Errorf("ParseReversePath(<Cécile@toto.fr>) error = %v, want ErrNeedsSMTPUTF8", err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Address
		wantErr bool
	}{
		{"toto@Example.COM", Address{"toto", "example.com"}, false},
		{"Cécile@toto.fr", Address{"Cécile", "toto.fr"}, false},
		{`"Pascal Petit"@foo.fr`, Address{"Pascal Petit", "foo.fr"}, false},
		{"Postmaster", Address{"postmaster", ""}, false},
		{"toto", Address{}, true},
		{"<toto@example.com>", Address{}, true},
		{"toto@example.com ", Address{}, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Parse(%q) = %#v, %v; want %#v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDomainsCompareWithoutCase(t *testing.T) {
	a, _ := ParseForwardPath("<pascal.petit@Shayol.org>", false)
	b, _ := ParseForwardPath("<pascal.petit@shayol.org>", false)
	c, _ := ParseForwardPath("<Pascal.Petit@shayol.org>", false)
	if a != b {
		t.Errorf("%v != %v: domains must compare without case", a, b)
	}
	if a == c {
		t.Errorf("%v == %v: local parts must keep their case", a, c)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		a    Address
		want string
	}{
		{Address{}, ""},
		{Address{"postmaster", ""}, "postmaster"},
		{Address{"petit", "shayol.org"}, "petit@shayol.org"},
		{Address{"Pascal Petit", "foo.fr"}, `"Pascal Petit"@foo.fr`},
		{Address{`a"b\c`, "foo.fr"}, `"a\"b\\c"@foo.fr`},
		{Address{"", "foo.fr"}, `""@foo.fr`},
		{Address{".a", "foo.fr"}, `".a"@foo.fr`},
		{Address{"a..b", "foo.fr"}, `"a..b"@foo.fr`},
		{Address{"Cécile", "toto.fr"}, "Cécile@toto.fr"},
		{Address{"u", "[IPv6:2001:db8::1]"}, "u@[IPv6:2001:db8::1]"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestPredicates(t *testing.T) {
	tests := []struct {
		a                    Address
		zero, pm, utf8, ipOK bool
		ascii                string
	}{
		{Address{}, true, false, false, false, ""},
		{Address{"PostMaster", ""}, false, true, false, false, ""},
		{Address{"postmaster", "example.com"}, false, false, false, false, "example.com"},
		{Address{"Cécile", "toto.fr"}, false, false, true, false, "toto.fr"},
		{Address{"u", "bücher.example"}, false, false, true, false, "xn--bcher-kva.example"},
		{Address{"u", "[192.0.2.1]"}, false, false, false, true, "[192.0.2.1]"},
		{Address{"u", "[IPv6:2001:db8::1]"}, false, false, false, true, "[IPv6:2001:db8::1]"},
	}
	for _, tt := range tests {
		if got := tt.a.IsZero(); got != tt.zero {
			t.Errorf("%#v.IsZero() = %v", tt.a, got)
		}
		if got := tt.a.IsPostmaster(); got != tt.pm {
			t.Errorf("%#v.IsPostmaster() = %v", tt.a, got)
		}
		if got := tt.a.NeedsSMTPUTF8(); got != tt.utf8 {
			t.Errorf("%#v.NeedsSMTPUTF8() = %v", tt.a, got)
		}
		if got := tt.a.ASCIIDomain(); got != tt.ascii {
			t.Errorf("%#v.ASCIIDomain() = %q, want %q", tt.a, got, tt.ascii)
		}
		if _, ok := tt.a.IP(); ok != tt.ipOK {
			t.Errorf("%#v.IP() ok = %v", tt.a, ok)
		}
	}
}

func TestSplitExtension(t *testing.T) {
	tests := []struct {
		local, delims, base, ext string
	}{
		{"petit+adieve", "+", "petit", "adieve"},
		{"petit+adieve+x", "+", "petit", "adieve+x"},
		{"petit-adieve", "+-", "petit", "adieve"},
		{"petit+adieve", "", "petit+adieve", ""},
		{"petit", "+", "petit", ""},
		{"+adieve", "+", "+adieve", ""},
		{"petit+", "+", "petit", ""},
		{"owner-list", "-", "owner-list", ""},
		{"list-request", "-", "list-request", ""},
		{"list-request", "+", "list-request", ""},
		{"a§b", "§", "a", "b"},
	}
	for _, tt := range tests {
		base, ext := SplitExtension(tt.local, tt.delims)
		if base != tt.base || ext != tt.ext {
			t.Errorf("SplitExtension(%q, %q) = %q, %q; want %q, %q", tt.local, tt.delims, base, ext, tt.base, tt.ext)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"Example.COM", "example.com", false},
		{"BÜCHER.example", "bücher.example", false},
		{"xn--mnchen-3ya.de", "münchen.de", false},
		{"[127.0.0.1]", "[127.0.0.1]", false},
		{"[IPv6:0:0:0:0:0:0:0:1]", "[IPv6:::1]", false},
		{"localhost", "localhost", false},
		{"ab--cd.example", "ab--cd.example", false},                 // LDH, not an A-label
		{"r3---sn-ab5l6n.example", "r3---sn-ab5l6n.example", false}, // RFC 5321 allows it
		{"ß.de", "ß.de", false},                                     // nontransitional: not "ss"
		{"bu\u0308cher.example", "bücher.example", false},           // RFC 5891 §5.2: NFC
		{"ＥＸＡＭＰＬＥ.com", "example.com", false},                       // UTS #46 width mapping
		{"\u05e2\u05d1\u05e8\u05d9\u05ea.example", "\u05e2\u05d1\u05e8\u05d9\u05ea.example", false},
		{"", "", true},
		{"a b.example", "", true},
		{"foo_bar.example", "", true},
		{"foo..example", "", true},
		{"foo.example.", "", true},
		{"-foo.example", "", true},
		{"ab--\u0301c.example", "", true},
		{"\u0301abc.example", "", true},      // RFC 5891 §4.2.3.2: leading mark
		{"\u263a.example", "", true},         // RFC 5892: symbol, DISALLOWED
		{"a\u0378.example", "", true},        // unassigned code point
		{"a\u3031.example", "", true},        // RFC 5892 §2.6 DISALLOWED exception
		{"a\u200db.example", "", true},       // RFC 5892 A.2: ZWJ out of context
		{"a\u05d0.example", "", true},        // RFC 5893: LTR and RTL in a label
		{"1.\u05d0\u05d1.example", "", true}, // RFC 5893 rule 1 in a bidi domain
		{"a\u3002b.example", "", true},       // ideographic full stop
		{"xn--bcher-kva-.example", "", true},
		{"xn--abc-.example", "", true},       // decodes to ASCII
		{"xn--abc.example", "", true},        // decodes to control characters
		{"xn--bucher-xyd.example", "", true}, // decodes to "bu\u0308cher", not NFC
		{"xn--bcher-2pa.example", "", true},  // decodes to "bÜcher", not lower case
		{"xn--.example", "", true},
		{spreadHan(20) + ".example", "", true},                                   // 60 octets, 68 as an A-label
		{long + "." + long + "." + long + "." + spreadHan(18) + ".ex", "", true}, // 249 octets, 257 as A-labels
		{"[300.0.0.1]", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("NormalizeDomain(%q) error %v does not wrap ErrSyntax", tt.in, err)
		}
	}
}

// spreadHan returns n distinct Han ideographs, far enough apart that their
// Punycode is longer than their UTF-8 (3 octets each).
func spreadHan(n int) string {
	r := make([]rune, n)
	for i := range r {
		r[i] = rune(0x4e00 + i*7919%20000)
	}
	return string(r)
}

// RFC 3492 §7.1 sample strings, and common IDN examples, through both
// directions of the public API.
func TestIDNALabels(t *testing.T) {
	tests := []struct{ u, a string }{
		{"bücher", "xn--bcher-kva"},
		{"münchen", "xn--mnchen-3ya"},
		{"\u4ed6\u4eec\u4e3a\u4ec0\u4e48\u4e0d\u8bf4\u4e2d\u6587", "xn--ihqwcrb4cv8a8dqg056pqjye"},
		{"\u3072\u3068\u3064\u5c4b\u6839\u306e\u4e0b2", "xn--2-u9tlzr9756bt3uc0v"},
		{"\u043f\u0440\u0438\u043c\u0435\u0440", "xn--e1afmkfd"},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.a + ".example")
		if err != nil || got != tt.u+".example" {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.a+".example", got, err, tt.u+".example")
		}
		if got := (Address{"u", tt.u + ".example"}).ASCIIDomain(); got != tt.a+".example" {
			t.Errorf("ASCIIDomain of %q = %q, want %q", tt.u, got, tt.a+".example")
		}
	}
	// Valid Punycode (RFC 3492 §7.1 (A), Arabic) that IDNA2008 refuses:
	// it ends with U+061F ARABIC QUESTION MARK, a punctuation mark.
	if got, err := NormalizeDomain("xn--egbpdaj6bu4bxfgehfvwxn.example"); !errors.Is(err, ErrSyntax) {
		t.Errorf("NormalizeDomain(Arabic sample) = %q, %v; want ErrSyntax", got, err)
	}
}

// FuzzParseForwardPath checks that parsing never panics and that a parsed
// address, written back with String, parses to the same address.
func FuzzParseForwardPath(f *testing.F) {
	for _, s := range []string{
		"<pascal.petit@shayol.org>", `<"Pascal Petit"@foo.fr>`, "<postmaster>",
		"<user@[IPv6:2001:db8::1]>", "<Cécile@xn--bcher-kva.example>", "<@a,@b:u@d>",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, path string, smtputf8 bool) {
		a, err := ParseForwardPath(path, smtputf8)
		if err != nil {
			return
		}
		s := "<" + a.String() + ">"
		b, err := ParseForwardPath(s, true)
		if err != nil {
			t.Fatalf("%q parsed to %#v, whose String %q does not parse: %v", path, a, s, err)
		}
		if a != b {
			t.Fatalf("%q parsed to %#v, whose String %q parses to %#v", path, a, s, b)
		}
		if !smtputf8 && a.Local != "" && !isASCII(a.Local) {
			t.Fatalf("%q gave non-ASCII local part without SMTPUTF8", path)
		}
		if a.Domain != "" {
			if d, err := NormalizeDomain(a.ASCIIDomain()); err != nil || d != a.Domain {
				t.Fatalf("%q: domain %q as A-labels %q normalises to %q, %v", path, a.Domain, a.ASCIIDomain(), d, err)
			}
		}
	})
}

func BenchmarkParseForwardPath(b *testing.B) {
	for b.Loop() {
		if _, err := ParseForwardPath("<Pascal.Petit+adieve@Shayol.org>", false); err != nil {
			b.Fatal(err)
		}
	}
}
