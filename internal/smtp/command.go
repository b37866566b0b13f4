package smtp

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is wrapped by every error of ParseCommand and ParsePathArg.
var ErrSyntax = errors.New("smtp: syntax error")

// Command is one command line: the verb, upper-cased, and the rest of the
// line after the space that follows it.
type Command struct {
	Verb string
	Arg  string
}

// ParseCommand splits a command line (without CRLF) into verb and argument
// (RFC 5321 §4.1.1: a verb of letters, a space, the parameters). The verb
// is case-insensitive. Surrounding white space of the argument is removed,
// as Postfix does for the clients that add some.
func ParseCommand(line string) (Command, error) {
	verb, arg, _ := strings.Cut(line, " ")
	if verb == "" || len(verb) > 16 {
		return Command{}, fmt.Errorf("%w: no command verb", ErrSyntax)
	}
	for i := 0; i < len(verb); i++ {
		if !isAlpha(verb[i]) {
			return Command{}, fmt.Errorf("%w: bad command verb", ErrSyntax)
		}
	}
	return Command{Verb: strings.ToUpper(verb), Arg: strings.Trim(arg, " \t")}, nil
}

// Param is one ESMTP parameter (RFC 5321 §4.1.2 esmtp-param): the keyword,
// upper-cased, and its value, "" when the parameter has none.
type Param struct {
	Key   string
	Value string
}

// ParsePathArg parses the argument of MAIL or RCPT: keyword ("FROM" or
// "TO"), a colon, the path, then ESMTP parameters separated by spaces. It
// returns the path without its angle brackets.
//
// The path ends at the ">" that is outside a quoted string, since a quoted
// local part may hold spaces and ">" (RFC 5321 §4.1.2 Quoted-string). As
// Postfix does, a space after the colon is allowed and so is a path without
// brackets, which then ends at the first space.
func ParsePathArg(arg, keyword string) (path string, params []Param, err error) {
	if len(arg) < len(keyword)+1 || !strings.EqualFold(arg[:len(keyword)], keyword) || arg[len(keyword)] != ':' {
		return "", nil, fmt.Errorf("%w: expected %s:<address>", ErrSyntax, keyword)
	}
	rest := strings.TrimLeft(arg[len(keyword)+1:], " ")
	if strings.HasPrefix(rest, "<") {
		end, err := pathEnd(rest)
		if err != nil {
			return "", nil, err
		}
		path, rest = rest[1:end], rest[end+1:]
		if rest != "" && rest[0] != ' ' {
			return "", nil, fmt.Errorf("%w: text after the address", ErrSyntax)
		}
	} else {
		path, rest, _ = strings.Cut(rest, " ")
		if path == "" {
			return "", nil, fmt.Errorf("%w: missing address", ErrSyntax)
		}
	}
	if strings.ContainsAny(path, "\r\n\x00") {
		return "", nil, fmt.Errorf("%w: control character in address", ErrSyntax)
	}
	params, err = ParseParams(rest)
	if err != nil {
		return "", nil, err
	}
	return path, params, nil
}

// pathEnd returns the index of the ">" that closes the path opened at s[0],
// skipping quoted strings and their quoted pairs.
func pathEnd(s string) (int, error) {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // quoted-pairSMTP: the next octet is literal
		case c == '"':
			quoted = !quoted
		case !quoted && c == '>':
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated <address>", ErrSyntax)
}

// ParseParams parses ESMTP parameters separated by spaces:
// keyword ["=" value] (RFC 5321 §4.1.2). A keyword is a letter or digit
// followed by letters, digits and "-". A value is at least one octet and
// holds no control character (so no CR, LF or NUL ever reaches an
// envelope); UTF-8 is allowed in it (RFC 6531 §3.3).
func ParseParams(s string) ([]Param, error) {
	var params []Param
	for _, f := range strings.Split(s, " ") {
		if f == "" {
			continue
		}
		key, value, hasValue := strings.Cut(f, "=")
		if !validKeyword(key) {
			return nil, fmt.Errorf("%w: bad parameter keyword %q", ErrSyntax, key)
		}
		if hasValue && !validValue(value) {
			return nil, fmt.Errorf("%w: bad value for parameter %s", ErrSyntax, key)
		}
		params = append(params, Param{Key: strings.ToUpper(key), Value: value})
	}
	return params, nil
}

func validKeyword(k string) bool {
	if k == "" || !isAlnum(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isAlnum(k[i]) && k[i] != '-' {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '!' || v[i] == 0x7f {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
