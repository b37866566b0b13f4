// Package dsn owns Delivery Status Notifications: the ESMTP parameters of
// RFC 3461 (NOTIFY, ORCPT, RET, ENVID), and the reports of RFC 3464 that
// facteur writes (WriteNotice: RFC 6522 multipart/report, RFC 3834
// Auto-Submitted, RFC 6533 for UTF-8 addresses) and reads (ParseReport).
package dsn

import (
	"errors"
	"fmt"
	"strings"
)

// Notify is the set of conditions named by RFC 3461 §4.1 NOTIFY.
type Notify uint8

const (
	NotifySuccess Notify = 1 << iota
	NotifyFailure
	NotifyDelay
	NotifyNever
)

// NotifyDefault is what an absent NOTIFY means (RFC 3461 §4.1: FAILURE, and
// DELAY at the MTA's discretion).
const NotifyDefault = NotifyFailure | NotifyDelay

// ParseNotify parses the value of NOTIFY: NEVER alone, or a comma-separated
// list of SUCCESS, FAILURE and DELAY, each at most once (RFC 3461 §4.1).
func ParseNotify(v string) (Notify, error) {
	if v == "" {
		return 0, errors.New("empty NOTIFY")
	}
	var n Notify
	for _, kw := range strings.Split(v, ",") {
		var bit Notify
		switch strings.ToUpper(kw) {
		case "NEVER":
			bit = NotifyNever
		case "SUCCESS":
			bit = NotifySuccess
		case "FAILURE":
			bit = NotifyFailure
		case "DELAY":
			bit = NotifyDelay
		default:
			return 0, fmt.Errorf("unknown NOTIFY keyword %q", kw)
		}
		if n&bit != 0 {
			return 0, fmt.Errorf("NOTIFY keyword %q repeated", kw)
		}
		n |= bit
	}
	if n&NotifyNever != 0 && n != NotifyNever {
		return 0, errors.New("NOTIFY=NEVER must stand alone")
	}
	return n, nil
}

// String formats n as a NOTIFY value; "" for the zero set.
func (n Notify) String() string {
	if n&NotifyNever != 0 {
		return "NEVER"
	}
	var parts []string
	if n&NotifySuccess != 0 {
		parts = append(parts, "SUCCESS")
	}
	if n&NotifyFailure != 0 {
		parts = append(parts, "FAILURE")
	}
	if n&NotifyDelay != 0 {
		parts = append(parts, "DELAY")
	}
	return strings.Join(parts, ",")
}

// Ret is the RET parameter of MAIL (RFC 3461 §4.3).
type Ret string

const (
	RetNone Ret = ""
	RetFull Ret = "FULL"
	RetHdrs Ret = "HDRS"
)

// ParseRet parses the value of RET.
func ParseRet(v string) (Ret, error) {
	switch strings.ToUpper(v) {
	case "FULL":
		return RetFull, nil
	case "HDRS":
		return RetHdrs, nil
	}
	return RetNone, fmt.Errorf("RET must be FULL or HDRS, not %q", v)
}

// MaxEnvIDLen and MaxORCPTLen bound the parameters (RFC 3461 §4.2 and §4.4:
// ENVID at most 100 characters; ORCPT's address at most 500).
const (
	MaxEnvIDLen = 100
	MaxORCPTLen = 500
)

// DecodeXtext decodes RFC 3461 §4 xtext: printable ASCII but "+" and "=",
// with "+XX" standing for any octet. The decoded value must not hold CR,
// LF or NUL: those never reach a spool file.
func DecodeXtext(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", errors.New("truncated xtext escape")
			}
			v, ok := unhex(s[i+1 : i+3])
			if !ok {
				return "", fmt.Errorf("bad xtext escape %q", s[i:i+3])
			}
			if v == '\r' || v == '\n' || v == 0 {
				return "", errors.New("xtext encodes a control character")
			}
			b.WriteByte(v)
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", fmt.Errorf("character %q not allowed in xtext", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func unhex(s string) (byte, bool) {
	var v byte
	for i := 0; i < 2; i++ {
		c := s[i]
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= c - '0'
		case c >= 'A' && c <= 'F':
			v |= c - 'A' + 10
		default: // RFC 3461 §4: hex digits are upper case
			return 0, false
		}
	}
	return v, true
}

// EncodeXtext is the inverse of DecodeXtext.
func EncodeXtext(s string) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			b.WriteByte('+')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ORCPT is the original recipient of RFC 3461 §4.2: an address type
// ("rfc822", "utf-8") and the decoded address.
type ORCPT struct {
	Type string
	Addr string
}

// ParseORCPT parses "addr-type;xtext".
func ParseORCPT(v string) (ORCPT, error) {
	typ, val, ok := strings.Cut(v, ";")
	if !ok || typ == "" || val == "" {
		return ORCPT{}, errors.New("ORCPT must be addr-type;address")
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return ORCPT{}, fmt.Errorf("bad ORCPT address type %q", typ)
		}
	}
	addr, err := DecodeXtext(val)
	if err != nil {
		return ORCPT{}, fmt.Errorf("ORCPT: %w", err)
	}
	if len(addr) > MaxORCPTLen {
		return ORCPT{}, errors.New("ORCPT address too long")
	}
	return ORCPT{Type: strings.ToLower(typ), Addr: addr}, nil
}

// String formats o as an ORCPT parameter value; "" for none.
func (o ORCPT) String() string {
	if o.Type == "" {
		return ""
	}
	return o.Type + ";" + EncodeXtext(o.Addr)
}

// ParseEnvID decodes and checks ENVID (RFC 3461 §4.4).
func ParseEnvID(v string) (string, error) {
	id, err := DecodeXtext(v)
	if err != nil {
		return "", fmt.Errorf("ENVID: %w", err)
	}
	if id == "" || len(id) > MaxEnvIDLen {
		return "", errors.New("ENVID must be 1 to 100 characters")
	}
	return id, nil
}
