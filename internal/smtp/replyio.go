package smtp

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// MaxReplyLines bounds the lines of one reply that ReadReply accepts.
const MaxReplyLines = 100

// WriteReply writes r to w: every line but the last as "code-text", the
// last as "code text" (RFC 5321 §4.2.1). With enhanced, each line carries
// r.Enhanced after the code (RFC 2034 §4). Control characters in the text
// are written as "?", so that no text can end a line early. It does not
// flush w; it returns w's error, if any.
func WriteReply(w *bufio.Writer, r *Reply, enhanced bool) error {
	lines := r.Lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	code := strconv.Itoa(r.Code)
	for i, l := range lines {
		w.WriteString(code)
		if i < len(lines)-1 {
			w.WriteByte('-')
		} else {
			w.WriteByte(' ')
		}
		if enhanced && r.Enhanced != "" {
			w.WriteString(r.Enhanced)
			if l != "" {
				w.WriteByte(' ')
			}
		}
		writeText(w, l)
		w.WriteString("\r\n")
	}
	_, err := w.Write(nil) // bufio.Writer's error is sticky
	return err
}

func writeText(w *bufio.Writer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			w.WriteString(s[:i])
			for ; i < len(s); i++ {
				if c := s[i]; c < ' ' || c == 0x7f {
					w.WriteByte('?')
				} else {
					w.WriteByte(c)
				}
			}
			return
		}
	}
	w.WriteString(s)
}

// ReadReply reads one reply, all its lines, from r. When every line starts
// with the same enhanced status code whose class matches the reply's
// (RFC 3463 §2), it goes to Enhanced and is removed from the lines.
func ReadReply(r *Reader) (*Reply, error) {
	reply := &Reply{}
	for {
		line, err := r.ReadLine(MaxReplyLine)
		if err != nil {
			return nil, fmt.Errorf("reading reply: %w", err)
		}
		s := string(line)
		if len(s) < 3 || (len(s) > 3 && s[3] != ' ' && s[3] != '-') {
			return nil, fmt.Errorf("%w: malformed reply line %q", ErrSyntax, s)
		}
		code, err := strconv.Atoi(s[:3])
		if err != nil || code < 200 || code > 599 {
			return nil, fmt.Errorf("%w: bad reply code %q", ErrSyntax, s[:3])
		}
		if reply.Code != 0 && code != reply.Code {
			return nil, fmt.Errorf("%w: reply code changed from %d to %d", ErrSyntax, reply.Code, code)
		}
		reply.Code = code
		text := ""
		if len(s) > 4 {
			text = s[4:]
		}
		reply.Lines = append(reply.Lines, text)
		if len(s) == 3 || s[3] == ' ' {
			splitEnhanced(reply)
			return reply, nil
		}
		if len(reply.Lines) >= MaxReplyLines {
			return nil, fmt.Errorf("%w: reply of more than %d lines", ErrSyntax, MaxReplyLines)
		}
	}
}

// splitEnhanced moves a common enhanced status code out of the lines.
func splitEnhanced(r *Reply) {
	enh, _, _ := strings.Cut(r.Lines[0], " ")
	if !validEnhanced(enh) || int(enh[0]-'0') != r.Code/100 {
		return
	}
	for _, l := range r.Lines {
		if l != enh && !strings.HasPrefix(l, enh+" ") {
			return
		}
	}
	r.Enhanced = enh
	for i, l := range r.Lines {
		r.Lines[i] = strings.TrimPrefix(strings.TrimPrefix(l, enh), " ")
	}
}

// validEnhanced checks class.subject.detail (RFC 3463 §2): class 2, 4 or
// 5; subject and detail of one to three digits.
func validEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
