package pop3d

import (
	"errors"
	"strconv"
	"strings"
)

// Command is a parsed command line (RFC 1939 §3): a keyword of 3 or 4
// characters, case-insensitive, and arguments separated by one space.
type Command struct {
	Name string   // upper case
	Args []string // split at spaces, empty ones dropped
	Rest string   // the line after the keyword and its space, verbatim
}

// Errors of ParseCommand.
var (
	ErrEmpty   = errors.New("empty command")
	ErrKeyword = errors.New("malformed command keyword")
	ErrControl = errors.New("control character in command")
	ErrArgs    = errors.New("too many arguments")
)

// maxArgs bounds the arguments of a line; no command takes more than two.
const maxArgs = 8

// ParseCommand parses a command line without its CRLF.
func ParseCommand(line string) (Command, error) {
	if strings.TrimSpace(line) == "" {
		return Command{}, ErrEmpty
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < ' ' && c != '\t' || c == 0x7f {
			return Command{}, ErrControl
		}
	}
	name, rest, _ := strings.Cut(line, " ")
	if len(name) < 3 || len(name) > 4 {
		return Command{}, ErrKeyword
	}
	for i := 0; i < len(name); i++ {
		if c := name[i] | 0x20; c < 'a' || c > 'z' {
			return Command{}, ErrKeyword
		}
	}
	args := strings.Fields(rest)
	if len(args) > maxArgs {
		return Command{}, ErrArgs
	}
	return Command{Name: strings.ToUpper(name), Args: args, Rest: rest}, nil
}

// parseMsgNum parses a message-number argument: a decimal of 1 to 10
// digits, at least 1 (RFC 1939 §3).
func parseMsgNum(s string) (int, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}
