// Package maildir reads and writes mail in Maildir form
// (https://cr.yp.to/proto/maildir.html) with the Maildir++ folder layout
// that Courier and Dovecot use: the root directory is INBOX, and each other
// mailbox is a directory of the root named "." followed by its name, with
// "." as the hierarchy separator (".Foo.Bar" is the mailbox "Foo/Bar").
//
// A message is one file in cur/ or new/. Its flags are the letters after
// the ":2," of its name: D Draft, F Flagged, P Passed ($Forwarded), R
// Replied (Answered), S Seen, T Trashed (Deleted); lower-case letters are
// Dovecot's keywords, "a" being the first name listed in the folder's
// dovecot-keywords file. Its internal date is the file's modification
// time, as Dovecot takes it.
//
// Mailbox names on disk: "/" in a mailbox name becomes ".", and a "." or
// "\" inside a level is written as "\2e" or "\5c", so that no name creates
// a hierarchy level it does not have; reading undoes it. Dovecot's
// modified UTF-7 folder names (RFC 3501 §5.1.3) are not decoded: a folder
// ".Envoy&AOk-s" is read as the mailbox "Envoy&AOk-s".
//
// Flags are IMAP's (RFC 9051 §2.3.2): `\Seen`, `\Answered`, `\Flagged`,
// `\Deleted`, `\Draft` and keywords.
package maildir

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The IMAP system flags that a Maildir info suffix carries.
const (
	flagSeen      = `\Seen`
	flagAnswered  = `\Answered`
	flagFlagged   = `\Flagged`
	flagDeleted   = `\Deleted`
	flagDraft     = `\Draft`
	flagForwarded = "$Forwarded" // RFC 5788 keyword for Maildir's P
)

// letters maps the Maildir info letters to IMAP flags, in ASCII order, the
// order the Maildir specification asks for in a file name.
var letters = []letter{
	{'D', flagDraft},
	{'F', flagFlagged},
	{'P', flagForwarded},
	{'R', flagAnswered},
	{'S', flagSeen},
	{'T', flagDeleted},
}

type letter struct {
	c    byte
	flag string
}

// maxKeywords is the number of keyword letters, a to z.
const maxKeywords = 26

// keywordsFile is Dovecot's list of a folder's keyword names.
const keywordsFile = "dovecot-keywords"

// ErrName is wrapped by the errors about a folder name that does not map
// to a valid mailbox name, or a mailbox name that cannot be a folder.
var ErrName = errors.New("invalid mailbox name")

// isKeyword reports whether s may be an IMAP keyword: an atom
// (RFC 9051 §9: no atom-specials, no CTL, no 8-bit byte) not starting
// with "\".
func isKeyword(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// FolderDir returns the Maildir++ directory name of a mailbox: "" for
// INBOX, ".Foo.Bar" for "Foo/Bar", with "." and "\" inside a level
// escaped as "\2e" and "\5c". It refuses names that are not valid mailbox
// names or too long for a directory name.
func FolderDir(name string) (string, error) {
	if strings.EqualFold(name, "INBOX") || name == "" {
		return "", nil
	}
	if err := checkLevels(strings.Split(name, "/")); err != nil {
		return "", fmt.Errorf("mailbox %q: %w", name, err)
	}
	var b strings.Builder
	for level := range strings.SplitSeq(name, "/") {
		b.WriteByte('.')
		for i := 0; i < len(level); i++ {
			switch c := level[i]; c {
			case '.', '\\':
				fmt.Fprintf(&b, `\%02x`, c)
			default:
				b.WriteByte(c)
			}
		}
	}
	if b.Len() > 255 {
		return "", fmt.Errorf("mailbox %q: too long for a folder name: %w", name, ErrName)
	}
	return b.String(), nil
}

// FolderName returns the mailbox name of a Maildir++ directory name
// (".Foo.Bar" is "Foo/Bar"), undoing the escapes of FolderDir. A name
// whose levels are empty, "." or "..", contain "/" or control characters,
// or are not UTF-8 is refused with an error wrapping ErrName.
func FolderName(dir string) (string, error) {
	rest, ok := strings.CutPrefix(dir, ".")
	if !ok {
		return "", fmt.Errorf("folder %q: no leading dot: %w", dir, ErrName)
	}
	levels := strings.Split(rest, ".")
	for i, l := range levels {
		levels[i] = unescape(l)
	}
	if err := checkLevels(levels); err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, err)
	}
	name := strings.Join(levels, "/")
	if first, _, _ := strings.Cut(name, "/"); strings.EqualFold(first, "INBOX") {
		name = "INBOX" + name[len(first):]
	}
	return name, nil
}

// unescape turns each "\hh" (two hex digits) into its byte.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+2 < len(s) {
			if v, ok := hexByte(s[i+1], s[i+2]); ok {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hexByte(a, b byte) (byte, bool) {
	hi, ok1 := hexDigit(a)
	lo, ok2 := hexDigit(b)
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkLevels refuses what no mailbox name may hold, as the store does:
// empty, "." or ".." levels, "/" within a level, control characters,
// the LIST wildcards "*" and "%" (RFC 9051 §6.3.9), and bytes that are
// not UTF-8.
func checkLevels(levels []string) error {
	for _, l := range levels {
		switch {
		case l == "" || l == "." || l == "..":
			return fmt.Errorf("level %q: %w", l, ErrName)
		case strings.ContainsAny(l, "/*%"):
			return fmt.Errorf("level %q: separator or wildcard: %w", l, ErrName)
		case !utf8.ValidString(l):
			return fmt.Errorf("level %q: not UTF-8: %w", l, ErrName)
		case strings.ContainsFunc(l, isControl):
			return fmt.Errorf("level %q: control character: %w", l, ErrName)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// parseInfo returns the flags of a message file name: the letters after
// ":2,", with lower-case ones looked up in keywords. Unknown letters are
// ignored.
func parseInfo(name string, keywords []string) []string {
	i := strings.LastIndex(name, ":2,")
	if i < 0 {
		return nil
	}
	var flags []string
	for _, c := range []byte(name[i+3:]) {
		switch {
		case c >= 'a' && c <= 'z':
			if k := int(c - 'a'); k < len(keywords) && keywords[k] != "" {
				flags = append(flags, keywords[k])
			}
		default:
			for _, l := range letters {
				if l.c == c {
					flags = append(flags, l.flag)
				}
			}
		}
	}
	slices.Sort(flags)
	return slices.Compact(flags)
}

// parseKeywords reads a dovecot-keywords file: lines "N name" with N from
// 0 to 25. Lines that do not parse, and names that are not IMAP keywords,
// are skipped.
func parseKeywords(data []byte) []string {
	var kw []string
	for line := range strings.SplitSeq(string(data), "\n") {
		num, name, ok := strings.Cut(strings.TrimSuffix(line, "\r"), " ")
		if !ok || len(num) == 0 || len(num) > 2 || !isKeyword(name) {
			continue
		}
		n := 0
		for _, c := range []byte(num) {
			if c < '0' || c > '9' {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n < 0 || n >= maxKeywords {
			continue
		}
		for len(kw) <= n {
			kw = append(kw, "")
		}
		kw[n] = name
	}
	return kw
}

// formatKeywords writes a dovecot-keywords file.
func formatKeywords(kw []string) []byte {
	var b strings.Builder
	for i, k := range kw {
		fmt.Fprintf(&b, "%d %s\n", i, k)
	}
	return []byte(b.String())
}
