package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one physical line of any file this package reads.
const maxLine = 1 << 20

// LineError is an error at a line of a file: its text is "FILE:LINE: reason",
// the form start-up errors take.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

func lineErrorf(file string, line int, format string, args ...any) error {
	return &LineError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}

// logicalLine is one entry of a file once continuation lines are joined.
type logicalLine struct {
	text string
	line int // where the entry starts
}

// readLogical splits r into logical lines, the way Postfix's readlline
// reads main.cf, tables and aliases files: blank lines and lines whose
// first non-blank character is '#' are skipped, and a line that starts
// with white space continues the previous one (postconf(5), aliases(5)).
// what names the kind of entry, for the error about a continuation line
// that has nothing to continue.
func readLogical(file string, r io.Reader, what string) ([]logicalLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var out []logicalLine
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimSuffix(sc.Text(), "\r")
		text := strings.TrimSpace(raw)
		if text == "" || text[0] == '#' {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if len(out) == 0 {
				return nil, lineErrorf(file, n, "continuation line before any %s", what)
			}
			out[len(out)-1].text += " " + text
			continue
		}
		out = append(out, logicalLine{text: text, line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineErrorf(file, n+1, "line longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return out, nil
}
