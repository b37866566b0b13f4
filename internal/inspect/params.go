package inspect

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

const maxParams = 100

// section is one piece of an RFC 2231 parameter.
type section struct {
	value   string
	encoded bool // the name ended in "*": charset'language'%XX form
}

// parseParams parses a Content-Type or Content-Disposition value: the
// type, then "; name=value" parameters (RFC 2045 §5.1), value a token or
// a quoted string, with RFC 2231's continuations ("name*0", "name*1")
// and character sets ("name*=utf-8”%C3%A9") decoded. It reads what it
// can of a malformed value and says in bad what was wrong.
func parseParams(s string) (typ string, params map[string]string, bad string) {
	s = stripComments(s)
	head, rest, _ := strings.Cut(s, ";")
	typ = strings.ToLower(strings.TrimSpace(head))
	params = map[string]string{}
	ext := map[string]map[int]section{}
	var problems []string
	note := func(format string, args ...any) {
		if len(problems) < 3 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for n := 0; rest != "" && n < maxParams; n++ {
		var name, value string
		var ok bool
		name, value, rest, ok = nextParam(rest)
		if name == "" {
			continue
		}
		if !ok {
			note("parameter %q is not name=value", name)
			continue
		}
		name = strings.ToLower(name)
		base, idx, encoded, err := splitExtName(name)
		if err != nil {
			note("parameter %q: %v", name, err)
			continue
		}
		if idx < 0 && !encoded {
			if _, dup := params[base]; dup {
				note("parameter %q given twice", base)
				continue
			}
			params[base] = value
			continue
		}
		if ext[base] == nil {
			ext[base] = map[int]section{}
		}
		idx = max(idx, 0)
		if _, dup := ext[base][idx]; dup {
			note("parameter %q given twice", name)
			continue
		}
		ext[base][idx] = section{value: value, encoded: encoded}
	}
	for base, secs := range ext {
		v, err := joinSections(secs)
		if err != nil {
			note("parameter %q: %v", base, err)
		}
		params[base] = v
	}
	return typ, params, strings.Join(problems, "; ")
}

// nextParam reads one "name=value" from s after a ";", and returns the
// rest after the next ";". ok is false when there is no "=".
func nextParam(s string) (name, value, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t;")
	i := strings.IndexAny(s, "=;")
	if i < 0 || s[i] == ';' {
		if i < 0 {
			i = len(s)
		}
		return strings.TrimSpace(s[:i]), "", s[i:], false
	}
	name = strings.TrimSpace(s[:i])
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		rest = s[min(i+1, len(s)):]
		if j := strings.IndexByte(rest, ';'); j >= 0 {
			rest = rest[j:]
		} else {
			rest = ""
		}
		return name, b.String(), rest, true
	}
	if j := strings.IndexByte(s, ';'); j >= 0 {
		return name, strings.TrimSpace(s[:j]), s[j:], true
	}
	return name, strings.TrimSpace(s), "", true
}

// splitExtName splits an RFC 2231 §3, §4 name: "title*1*" gives "title",
// 1, true; "title" gives "title", -1, false.
func splitExtName(name string) (base string, idx int, encoded bool, err error) {
	base, idx = name, -1
	if strings.HasSuffix(base, "*") {
		base, encoded = base[:len(base)-1], true
	}
	if b, num, ok := strings.Cut(base, "*"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > maxParams || (len(num) > 1 && num[0] == '0') {
			return "", 0, false, fmt.Errorf("bad section number %q", num)
		}
		base, idx = b, n
	}
	if base == "" {
		return "", 0, false, errors.New("empty name")
	}
	return base, idx, encoded, nil
}

// joinSections puts an RFC 2231 parameter together: sections in order,
// %XX octets decoded, the whole in the character set named by the first
// section.
func joinSections(secs map[int]section) (string, error) {
	keys := make([]int, 0, len(secs))
	for k := range secs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var problem error
	for i, k := range keys {
		if k != i {
			problem = errors.New("continuation sections missing")
			break
		}
	}
	var raw []byte
	charset := ""
	for i, k := range keys {
		sec := secs[k]
		v := sec.value
		if !sec.encoded {
			raw = append(raw, v...)
			continue
		}
		if i == 0 {
			cs, after, ok := strings.Cut(v, "'")
			_, after2, ok2 := strings.Cut(after, "'")
			if !ok || !ok2 {
				problem = errors.New("no charset'language' before the value")
			} else {
				charset, v = strings.ToLower(cs), after2
			}
		}
		dec, err := percentDecode(v)
		if err != nil && problem == nil {
			problem = err
		}
		raw = append(raw, dec...)
	}
	s, ok := decodeCharset(raw, charset)
	if !ok && problem == nil {
		problem = fmt.Errorf("unknown charset %q", charset)
	}
	return s, problem
}

func percentDecode(s string) ([]byte, error) {
	var out []byte
	var err error
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		if s[i] == '%' {
			err = errors.New("bad %XX escape")
		}
		out = append(out, s[i])
	}
	return out, err
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// stripComments removes RFC 5322 §3.2.2 comments, outside quoted strings.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
			continue
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
			continue
		case c == ')' && !quoted && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lookupCharset finds a character set by its MIME name or alias.
func lookupCharset(name string) (encoding.Encoding, error) {
	name = strings.TrimSpace(name)
	if enc, err := htmlindex.Get(name); err == nil {
		return enc, nil
	}
	enc, err := ianaindex.MIME.Encoding(name)
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unknown charset %q", name)
	}
	return enc, nil
}

// decodeCharset turns b in charset into UTF-8; ok is false when the
// charset is unknown, and then non-UTF-8 octets become U+FFFD.
func decodeCharset(b []byte, charset string) (string, bool) {
	switch charset {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(b) {
			return string(b), true
		}
		if charset == "utf-8" || charset == "utf8" {
			return strings.ToValidUTF8(string(b), "\uFFFD"), true
		}
	}
	if charset == "" {
		charset = "iso-8859-1"
	}
	enc, err := lookupCharset(charset)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD"), true
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}
