package smtpd

import "facteur/internal/smtp"

// vrfy asks the policy about an address (RFC 5321 §3.5.1, §4.1.1.6), or
// refuses when disable_vrfy_command is set.
func (ss *session) vrfy(arg string) {
	if ss.srv.cfg.DisableVRFY {
		ss.reply(smtp.NewReply(502, "5.5.1", "VRFY command is disabled"))
		return
	}
	if arg == "" || containsCtl(arg) {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: VRFY address"))
		return
	}
	ss.reply(orCannot(ss.srv.policy.Verify(ss.ctx, &ss.client, arg)))
}

// expn asks the policy to expand a list (RFC 5321 §3.5.2, §4.1.1.7).
// A list's members are nobody else's business: EXPN is refused with
// disable_vrfy_command, and to clients outside mynetworks (RFC 5321 §7.3
// lets a site turn it off for security).
func (ss *session) expn(arg string) {
	switch {
	case ss.srv.cfg.DisableVRFY:
		ss.reply(smtp.NewReply(502, "5.5.1", "EXPN command is disabled"))
		return
	case !ss.client.Local:
		ss.reply(smtp.NewReply(502, "5.5.1", "EXPN command is available only to trusted clients"))
		return
	}
	if arg == "" || containsCtl(arg) {
		ss.reply(smtp.NewReply(501, "5.5.4", "Syntax: EXPN list"))
		return
	}
	ss.reply(orCannot(ss.srv.policy.Expand(ss.ctx, &ss.client, arg)))
}

// orCannot stands in for a policy that gave no reply: RFC 5321 §3.5.3's
// 252, neither a yes nor a no.
func orCannot(r *smtp.Reply) *smtp.Reply {
	if r == nil {
		return smtp.NewReply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery")
	}
	return r
}
