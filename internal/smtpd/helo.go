package smtpd

import (
	"strconv"

	"facteur/internal/smtp"
)

// helo answers HELO (RFC 5321 §4.1.1.1): plain SMTP, no extensions.
func (ss *session) helo(arg string) {
	if !ss.greet(arg, "HELO") {
		return
	}
	ss.ehlo = false
	ss.client.Protocol = "SMTP"
	ss.reply(smtp.NewReply(250, "2.0.0", ss.srv.cfg.Hostname))
}

// ehloCmd answers EHLO with the extensions (RFC 5321 §4.1.1.1, §2.2.2).
func (ss *session) ehloCmd(arg string) {
	if !ss.greet(arg, "EHLO") {
		return
	}
	ss.ehlo = true
	ss.client.Protocol = ss.protocol()
	size := "SIZE"
	if m := ss.srv.cfg.MaxMessageSize; m > 0 {
		size += " " + strconv.FormatInt(m, 10) // RFC 1870 §4
	}
	// No enhanced code here: the lines are keywords (RFC 5321 §4.1.1.1)
	// and RFC 2034 §3 applies from the next reply on.
	lines := []string{
		ss.srv.cfg.Hostname,
		"PIPELINING",          // RFC 2920
		size,                  // RFC 1870
		"8BITMIME",            // RFC 6152
		"ENHANCEDSTATUSCODES", // RFC 2034
		"SMTPUTF8",            // RFC 6531
		"DSN",                 // RFC 3461
		"CHUNKING",            // RFC 3030
		"BINARYMIME",          // RFC 3030
	}
	if ss.tlsOffered() {
		lines = append(lines, "STARTTLS") // RFC 3207 §4; not again under TLS (§4.2)
	}
	if ss.authOffered() {
		lines = append(lines, authKeyword()) // RFC 4954 §3
	}
	ss.reply(&smtp.Reply{Code: 250, Lines: lines})
}

// greet checks the HELO or EHLO argument and resets the session: RFC 5321
// §4.1.4, a greeting clears the transaction and buffers.
func (ss *session) greet(arg, verb string) bool {
	if arg == "" || containsCtl(arg) || len(arg) > 255 {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: "+verb+" hostname"))
		return false
	}
	ss.reset()
	ss.greeted = true
	ss.client.Helo = arg
	return true
}
