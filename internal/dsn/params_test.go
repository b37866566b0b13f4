package dsn

import (
	"strings"
	"testing"
)

func TestParseNotify(t *testing.T) {
	good := map[string]Notify{
		"NEVER":                 NotifyNever,
		"never":                 NotifyNever,
		"SUCCESS":               NotifySuccess,
		"FAILURE,DELAY":         NotifyFailure | NotifyDelay,
		"success,failure,delay": NotifySuccess | NotifyFailure | NotifyDelay,
	}
	for in, want := range good {
		got, err := ParseNotify(in)
		if err != nil || got != want {
			t.Errorf("ParseNotify(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "NEVER,SUCCESS", "SUCCESS,SUCCESS", "SOMETIMES", "SUCCESS,", ",FAILURE"} {
		if n, err := ParseNotify(in); err == nil {
			t.Errorf("ParseNotify(%q) = %v, want an error", in, n)
		}
	}
	if s := (NotifyFailure | NotifySuccess).String(); s != "SUCCESS,FAILURE" {
		t.Errorf("String = %q", s)
	}
}

func TestParseRet(t *testing.T) {
	for in, want := range map[string]Ret{"FULL": RetFull, "hdrs": RetHdrs} {
		if got, err := ParseRet(in); err != nil || got != want {
			t.Errorf("ParseRet(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "BODY", "FULL "} {
		if _, err := ParseRet(in); err == nil {
			t.Errorf("ParseRet(%q) accepted", in)
		}
	}
}

func TestXtext(t *testing.T) {
	good := map[string]string{
		"abc":            "abc",
		"a+2Bb":          "a+b",
		"x+3Dy":          "x=y",
		"+20lead":        " lead",
		"caf+C3+A9":      "caf\xc3\xa9",
		"rfc822+3Ba@b.c": "rfc822;a@b.c",
	}
	for in, want := range good {
		got, err := DecodeXtext(in)
		if err != nil || got != want {
			t.Errorf("DecodeXtext(%q) = %q, %v; want %q", in, got, err, want)
		}
		if back, _ := DecodeXtext(EncodeXtext(want)); back != want {
			t.Errorf("round trip of %q gave %q", want, back)
		}
	}
	// RFC 3461 §4: "+" must be followed by two upper-case hex digits; "="
	// and controls are not xtext; CR, LF and NUL never come out decoded.
	for _, in := range []string{"a+", "a+2", "a+2b", "a=b", "a b", "+0D", "+0A", "+00", "é"} {
		if got, err := DecodeXtext(in); err == nil {
			t.Errorf("DecodeXtext(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseORCPT(t *testing.T) {
	o, err := ParseORCPT("rfc822;pascal.petit+2Bx@shayol.org")
	if err != nil || o.Type != "rfc822" || o.Addr != "pascal.petit+x@shayol.org" {
		t.Fatalf("ParseORCPT = %+v, %v", o, err)
	}
	if s := o.String(); s != "rfc822;pascal.petit+2Bx@shayol.org" {
		t.Errorf("String = %q", s)
	}
	bad := []string{"", "rfc822", ";a@b", "rfc822;", "rfc 822;a@b", "rfc822;a+0Db", "rfc822;" + strings.Repeat("a", 501)}
	for _, in := range bad {
		if _, err := ParseORCPT(in); err == nil {
			t.Errorf("ParseORCPT(%q) accepted", in)
		}
	}
}

func TestParseEnvID(t *testing.T) {
	if id, err := ParseEnvID("QQ+2B314"); err != nil || id != "QQ+314" {
		t.Errorf("ParseEnvID = %q, %v", id, err)
	}
	for _, in := range []string{"", strings.Repeat("x", 101), "a+0Ab"} {
		if _, err := ParseEnvID(in); err == nil {
			t.Errorf("ParseEnvID(%q) accepted", in)
		}
	}
}

// FuzzParams feeds the RFC 3461 parameter parsers with what a client may
// send: none may panic, and nothing decoded may hold CR, LF or NUL.
func FuzzParams(f *testing.F) {
	for _, s := range []string{"rfc822;a@b", "SUCCESS,FAILURE", "a+2Bb", "+", "FULL"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseNotify(s)
		ParseRet(s)
		if o, err := ParseORCPT(s); err == nil && strings.ContainsAny(o.Addr, "\r\n\x00") {
			t.Errorf("ORCPT %q decoded to a control character", s)
		}
		if id, err := ParseEnvID(s); err == nil && strings.ContainsAny(id, "\r\n\x00") {
			t.Errorf("ENVID %q decoded to a control character", s)
		}
		if d, err := DecodeXtext(s); err == nil {
			if back, err := DecodeXtext(EncodeXtext(d)); err != nil || back != d {
				t.Errorf("xtext round trip of %q: %q, %v", d, back, err)
			}
		}
	})
}
