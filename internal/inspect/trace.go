package inspect

import (
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// trace reads the trace fields of a header: Return-Path and the Received
// fields, which each hop prepends (RFC 5321 §4.4), so the oldest is last.
func (w *walker) trace(fields []Field, where string) Trace {
	tr := Trace{Hops: []Hop{}}
	var received []string
	nrp := 0
	for _, f := range fields {
		switch strings.ToLower(f.Name) {
		case "return-path":
			if nrp == 0 {
				tr.ReturnPath = f.Raw
			}
			nrp++
		case "received":
			received = append(received, f.Raw)
		}
	}
	if nrp > 1 {
		w.probs.add("returnpaths", where, 0, "RFC 5321 §4.4",
			fmt.Sprintf("%d Return-Path fields: final delivery adds one, and a message sent on must not keep it", nrp))
	}
	for i := len(received) - 1; i >= 0; i-- {
		n := len(received) - i
		h, problem := parseReceived(received[i])
		if problem != "" {
			w.probs.add("badreceived", fmt.Sprintf("Received hop %d", n), 0, "RFC 5322 §3.6.7, RFC 5321 §4.4", problem)
		}
		tr.Hops = append(tr.Hops, h)
	}
	var first, last time.Time
	for i := range tr.Hops {
		h := &tr.Hops[i]
		if h.Date.IsZero() {
			continue
		}
		if first.IsZero() {
			first = h.Date
		}
		last = h.Date
		if i == 0 || tr.Hops[i-1].Date.IsZero() {
			continue
		}
		d := Duration(h.Date.Sub(tr.Hops[i-1].Date))
		h.Delay = &d
		if d < 0 {
			h.Skew = true
			w.probs.add("skew", fmt.Sprintf("Received hop %d", i+1), 0, "RFC 5321 §4.4",
				fmt.Sprintf("clock skew: stamped %s before the previous hop, which handed the message on to it", (-d).String()))
		}
	}
	if countDated(tr.Hops) >= 2 {
		d := Duration(last.Sub(first))
		tr.Total = &d
	}
	return tr
}

func countDated(hops []Hop) int {
	n := 0
	for _, h := range hops {
		if !h.Date.IsZero() {
			n++
		}
	}
	return n
}

// rtoken is a word of a Received field, or a comment.
type rtoken struct {
	text    string
	comment bool
}

// splitReceived cuts a Received value at its last ";" outside comments
// and quoted strings: tokens before it, the date-time after.
func splitReceived(s string) (tokens []rtoken, date string, hasDate bool) {
	depth, quoted, last := 0, false, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted && depth > 0:
			depth--
		case c == ';' && !quoted && depth == 0:
			last = i
		}
	}
	if last >= 0 {
		date, hasDate, s = strings.TrimSpace(s[last+1:]), true, s[:last]
	}
	return tokenize(s), date, hasDate
}

// tokenize splits the received-tokens of RFC 5322 §3.6.7 into words
// (atoms, domain literals, angle addresses, quoted strings) and comments.
func tokenize(s string) []rtoken {
	var out []rtoken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';':
			i++
		case c == '(':
			depth, j := 0, i
			var b strings.Builder
			for ; j < len(s); j++ {
				ch := s[j]
				if ch == '\\' && j+1 < len(s) {
					j++
					b.WriteByte(s[j])
					continue
				}
				if ch == '(' {
					depth++
					if depth == 1 {
						continue
					}
				}
				if ch == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
				b.WriteByte(ch)
			}
			out = append(out, rtoken{text: b.String(), comment: true})
			i = j + 1
		default:
			closing := byte(0)
			switch c {
			case '<':
				closing = '>'
			case '[':
				closing = ']'
			case '"':
				closing = '"'
			}
			j := i + 1
			if closing != 0 {
				for j < len(s) && s[j] != closing {
					j++
				}
				j = min(j+1, len(s))
			} else {
				for j < len(s) && !strings.ContainsRune(" \t\r\n(;", rune(s[j])) {
					j++
				}
			}
			out = append(out, rtoken{text: s[i:j]})
			i = j
		}
	}
	return out
}

var (
	// TLS versions as Postfix ("using TLSv1.3"), Exim ("(TLS1.3)") and
	// others ("version=TLS1_3") write them.
	tlsRE    = regexp.MustCompile(`(?i)\b(?:TLS ?v?(1(?:[._][0-3])?)|SSL ?v?([23]))\b`)
	cipherRE = regexp.MustCompile(`(?i)\bcipher[= ]([A-Za-z0-9_-]+)`)
)

// parseReceived reads one Received field (RFC 5321 §4.4: from, by, via,
// with, id, for, then "; date-time"). It takes what it can of a
// malformed field; problem says what was wrong.
func parseReceived(raw string) (Hop, string) {
	h := Hop{Raw: raw}
	tokens, date, hasDate := splitReceived(raw)
	var problem string
	if !hasDate {
		problem = "no \";\" and date-time: every hop must stamp the time it received the message"
	} else if t, err := parseDate(date); err != nil {
		problem = fmt.Sprintf("date-time %q not in RFC 5322 syntax", date)
	} else {
		h.Date = t
	}
	var clause string
	var comments, extra []string
	var heloAddr string // a literal given as the from clause's name
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		if t.comment {
			comments = append(comments, t.text)
			if clause == "from" {
				h.fromComment(t.text)
				clause = "" // later comments are not about the client
			}
			continue
		}
		switch kw := strings.ToLower(t.text); kw {
		case "from", "by", "via", "with", "id", "for":
			if i+1 < len(tokens) && !tokens[i+1].comment {
				clause = kw
				h.setClause(kw, tokens[i+1].text)
				if ip, ok := literalIP(tokens[i+1].text); ok && kw == "from" {
					heloAddr = ip
				}
				i++
				continue
			}
		}
		extra = append(extra, t.text)
		clause = ""
	}
	if h.FromAddr == "" {
		// "from [192.0.2.1]" with no comment: the client named itself by
		// its address, which the receiver did not confirm otherwise.
		h.FromAddr = heloAddr
	}
	// Some write the TLS comment after the date (Gmail's "(version=TLS1_3
	// cipher=...)").
	all := strings.Join(comments, " ") + " " + date
	if m := tlsRE.FindStringSubmatch(all); m != nil {
		if m[1] != "" {
			v := strings.NewReplacer("_", ".").Replace(m[1])
			h.TLS = "TLSv" + v
		} else {
			h.TLS = "SSLv" + m[2]
		}
	}
	if m := cipherRE.FindStringSubmatch(all); m != nil {
		h.Cipher = m[1]
	}
	for i := 0; i+1 < len(extra); i++ {
		if strings.EqualFold(extra[i], "tls") && h.Cipher == "" { // Exim: "with esmtps (TLS1.3) tls CIPHER"
			h.Cipher = extra[i+1]
		}
	}
	if h.By == "" && problem == "" {
		problem = "no by clause naming the receiving host"
	}
	return h, problem
}

func (h *Hop) setClause(kw, v string) {
	switch kw {
	case "from":
		h.From = v
	case "by":
		h.By = v
	case "via":
		h.Via = v
	case "with":
		h.With = strings.ToUpper(v)
	case "id":
		h.ID = v
	case "for":
		h.For = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	}
}

// fromComment reads the comment after the from clause: the name the
// receiver found for the client and its address, "(NAME [IP])" as
// Postfix and facteur write it, "([IP] helo=NAME)" as Exim does.
func (h *Hop) fromComment(c string) {
	for _, f := range strings.Fields(c) {
		if ip, ok := literalIP(f); ok {
			if h.FromAddr == "" {
				h.FromAddr = ip
			}
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(f, "[]")); err == nil {
			if h.FromAddr == "" {
				h.FromAddr = a.String()
			}
			continue
		}
		lf := strings.ToLower(f)
		if h.FromName != "" || lf == "unknown" || strings.Contains(lf, "=") || !strings.Contains(lf, ".") && lf != "localhost" {
			continue
		}
		h.FromName = strings.TrimSuffix(f, ".")
	}
}

// literalIP reads an address literal "[192.0.2.1]", "[IPv6:2001:db8::1]".
func literalIP(s string) (string, bool) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return "", false
	}
	v := s[1 : len(s)-1]
	if len(v) > 5 && strings.EqualFold(v[:5], "IPv6:") {
		v = v[5:]
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", false
	}
	return a.String(), true
}

// protocols describes the values of the with clause (RFC 5321 §4.4,
// RFC 3848, RFC 6531 §3.7.3, RFC 2033).
var protocols = map[string]string{
	"SMTP":       "SMTP, no extensions (RFC 5321)",
	"ESMTP":      "ESMTP: EHLO, no TLS, no authentication (RFC 5321)",
	"ESMTPS":     "ESMTP over TLS (STARTTLS or implicit TLS, RFC 3848)",
	"ESMTPA":     "ESMTP with authentication (SMTP AUTH, RFC 3848)",
	"ESMTPSA":    "ESMTP over TLS with authentication (RFC 3848)",
	"LMTP":       "LMTP: local delivery protocol (RFC 2033)",
	"LMTPS":      "LMTP over TLS (RFC 3848)",
	"LMTPA":      "LMTP with authentication (RFC 3848)",
	"LMTPSA":     "LMTP over TLS with authentication (RFC 3848)",
	"UTF8SMTP":   "ESMTP with SMTPUTF8 (RFC 6531)",
	"UTF8SMTPS":  "ESMTP with SMTPUTF8 over TLS (RFC 6531)",
	"UTF8SMTPA":  "ESMTP with SMTPUTF8 and authentication (RFC 6531)",
	"UTF8SMTPSA": "ESMTP with SMTPUTF8 over TLS with authentication (RFC 6531)",
	"UTF8LMTP":   "LMTP with SMTPUTF8 (RFC 6531)",
}

// ProtocolInfo says what a Received field's protocol name means, "" for
// a name no RFC registers.
func ProtocolInfo(with string) string { return protocols[strings.ToUpper(with)] }

// parseDate parses an RFC 5322 §3.3 date-time, refusing what no clock
// writes: a year outside 0 to 9999, a zone offset of a day or more.
func parseDate(s string) (time.Time, error) {
	t, err := mail.ParseDate(s)
	if err != nil {
		return time.Time{}, err
	}
	if !plausible(t) {
		return time.Time{}, fmt.Errorf("date-time %q out of range", s)
	}
	return t, nil
}

func plausible(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -24*3600 && off < 24*3600
}

// plausibleOrZero is t, or the zero time when it is out of range.
func plausibleOrZero(t time.Time) time.Time {
	if plausible(t) {
		return t
	}
	return time.Time{}
}
