package smtp

import (
	"strconv"
	"strings"
)

// Reply is an SMTP reply: a three-digit code, an enhanced status code
// (RFC 3463, "5.1.1", or "" for none) and one or more lines of text.
// A *Reply is also an error, so that the place that decides a refusal
// builds its reply and the session writes it unchanged (STYLE 6).
type Reply struct {
	Code     int
	Enhanced string
	Lines    []string
}

// NewReply builds a one-line reply.
func NewReply(code int, enhanced, text string) *Reply {
	return &Reply{Code: code, Enhanced: enhanced, Lines: []string{text}}
}

// Error formats the reply on one line, as it is logged.
func (r *Reply) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != "" {
		b.WriteByte(' ')
		b.WriteString(r.Enhanced)
	}
	for _, l := range r.Lines {
		b.WriteByte(' ')
		b.WriteString(l)
	}
	return b.String()
}

// Temporary reports a 4yz reply (RFC 5321 §4.2.1).
func (r *Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a 5yz reply.
func (r *Reply) Permanent() bool { return r.Code >= 500 }

// Positive reports a 2yz or 3yz reply.
func (r *Reply) Positive() bool { return r.Code >= 200 && r.Code < 400 }
