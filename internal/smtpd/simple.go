package smtpd

import "facteur/internal/smtp"

// rset aborts the transaction (RFC 5321 §4.1.1.5).
func (ss *session) rset(arg string) {
	if arg != "" {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: RSET"))
		return
	}
	ss.reset()
	ss.reply(smtp.NewReply(250, "2.0.0", "Ok"))
}

// noop takes an optional string and does nothing (RFC 5321 §4.1.1.9).
func (ss *session) noop(string) {
	ss.reply(smtp.NewReply(250, "2.0.0", "Ok"))
}

// quit ends the session (RFC 5321 §4.1.1.10).
func (ss *session) quit(arg string) {
	if arg != "" {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: QUIT"))
		return
	}
	ss.reset()
	ss.replyClose(smtp.NewReply(221, "2.0.0", "Bye"))
}

// help lists the commands (RFC 5321 §4.1.1.8).
func (ss *session) help(string) {
	ss.reply(&smtp.Reply{Code: 214, Enhanced: "2.0.0", Lines: []string{
		"Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP",
		"A transaction: EHLO, MAIL FROM:<sender>, RCPT TO:<recipient>, DATA",
		"See RFC 5321",
	}})
}

// reset drops the transaction, aborting a message begun with BDAT.
func (ss *session) reset() {
	if ss.tx != nil && ss.tx.msg != nil {
		ss.tx.msg.Abort()
	}
	ss.tx = nil
}

// notImplemented answers a command that RFC 5321 or an extension defines
// but this server does not offer (RFC 5321 §4.2.4: 502, not 500).
func (ss *session) notImplemented(string) {
	ss.reply(smtp.NewReply(502, "5.5.1", "Error: command not implemented"))
}
