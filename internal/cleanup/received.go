package cleanup

import (
	"strings"
	"time"

	"facteur/internal/envelope"
	"facteur/internal/tlsconf"
)

// DateLayout is the RFC 5322 §3.3 date-time as facteur writes it, with the
// zone's name in a comment as Postfix does.
const DateLayout = "Mon, 02 Jan 2006 15:04:05 -0700 (MST)"

// Received returns the Received trace field that facteur prepends to a
// message (RFC 5321 §4.4; syntax of RFC 5322 §3.6.7), folded into lines in
// Postfix's layout and terminated by CRLF:
//
//	Received: from HELO (NAME [IP])
//		(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)
//		by myhostname (facteur) with ESMTPS id QUEUEID
//		for <rcpt>; Fri, 27 Nov 2026 23:14:58 +0000 (UTC)
//
// A local submission (no client address) has no from clause:
//
//	Received: by myhostname (facteur, from user NAME)
//		id QUEUEID; Fri, 27 Nov 2026 23:14:58 +0000 (UTC)
func Received(env *envelope.Envelope, hostname string, now time.Time) string {
	c := env.Client
	var lines []string
	var by string
	if c.Addr.IsValid() {
		lines = append(lines, "Received: from "+fromClause(c))
		if t := tlsComment(c.TLS); t != "" {
			lines = append(lines, "\t"+t)
		}
		by = "\tby " + clean(hostname) + " (facteur) " + withID(c.Protocol, env.ID)
	} else {
		// Postfix's pickup layout: by on the first line, the id on the next.
		comment := "facteur"
		if c.AuthUser != "" {
			comment += ", from user " + clean(c.AuthUser)
		}
		lines = append(lines, "Received: by "+clean(hostname)+" ("+comment+")")
		if t := tlsComment(c.TLS); t != "" {
			lines = append(lines, "\t"+t)
		}
		by = "\t" + withID(c.Protocol, env.ID)
	}
	date := now.Format(DateLayout)
	// RFC 5321 §4.4: the FOR clause names one recipient; with several it
	// would disclose the others (Postfix writes it for exactly one).
	// One RCPT can stand for several recipients after alias expansion:
	// count the addresses the client gave.
	if rcpt, ok := soleRecipient(env); ok {
		lines = append(lines, by, "\tfor <"+clean(rcpt)+">; "+date)
	} else {
		lines = append(lines, by+";", "\t"+date)
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// withID is "with PROTOCOL id QUEUEID", without the with clause when the
// protocol is unknown.
func withID(protocol, id string) string {
	s := "id " + clean(id)
	if protocol != "" {
		s = "with " + clean(protocol) + " " + s
	}
	return s
}

// fromClause is "HELO (NAME [IP])" for a client that came over the network.
func fromClause(c envelope.Client) string {
	helo := clean(c.Helo)
	if helo == "" {
		helo = "unknown"
	}
	name := clean(c.Name)
	if name == "" {
		name = "unknown"
	}
	return helo + " (" + name + " " + addrLiteral(c) + ")"
}

// addrLiteral writes the client address as an RFC 5321 §4.1.3 address
// literal: "[192.0.2.1]", "[IPv6:2001:db8::1]" (Postfix writes the IPv6
// tag in Received too, so that the comment parses as a literal).
func addrLiteral(c envelope.Client) string {
	a := c.Addr.Unmap()
	if a.Is6() {
		return "[IPv6:" + a.WithZone("").String() + "]"
	}
	return "[" + a.String() + "]"
}

// tlsComment turns envelope.Client.TLS ("TLS1.3 TLS_AES_128_GCM_SHA256")
// into Postfix's "(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256
// (128/128 bits))", the bits when tlsconf knows the cipher.
func tlsComment(tls string) string {
	s := tlsconf.CommentFor(strings.Join(strings.Fields(clean(tls)), " "))
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// hideClient is the envelope as Received shows it when the client's name
// and address stay private (smtpd_received_hide_client): an authenticated
// client's trace field keeps only the by clause, the protocol and the TLS
// comment.
func hideClient(env *envelope.Envelope) *envelope.Envelope {
	e := *env
	e.Client = envelope.Client{Protocol: env.Client.Protocol, TLS: env.Client.TLS}
	return &e
}

// clean makes client-supplied text safe inside a header field: no line
// breaks or other control characters, no parentheses that would unbalance
// the comment (RFC 5322 §3.2.2).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < ' ' || r == 0x7f:
			return '?'
		case r == '(' || r == ')':
			return '?'
		}
		return r
	}, s)
}

// soleRecipient returns the address the client gave at RCPT when it gave
// exactly one.
func soleRecipient(env *envelope.Envelope) (string, bool) {
	if len(env.Recipients) == 0 {
		return "", false
	}
	addr := env.Recipients[0].Addr
	for _, r := range env.Recipients[1:] {
		if r.Addr != addr {
			return "", false
		}
	}
	return addr, true
}
