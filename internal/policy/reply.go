package policy

import (
	"errors"
	"fmt"
	"strings"

	"facteur/internal/smtp"
)

// Why a recipient is refused; refuse turns each into Postfix's reply.
var (
	errRelayDenied = errors.New("relay access denied")
	errLoop        = errors.New("mail forwarding loop")
	errTooMany     = errors.New("alias expands to too many addresses")
)

// unknownError is a recipient missing from the table that should hold it.
type unknownError struct{ table string }

func (e *unknownError) Error() string { return "user unknown in " + e.table }

const (
	tableLocal          = "local recipient table"
	tableVirtualAlias   = "virtual alias table"
	tableVirtualMailbox = "virtual mailbox table"
)

// refuse builds the reply for a refusal of addr, as Postfix's smtpd words
// it. Anything unclassified (a table or account lookup error) becomes
// 451 4.3.0 without its detail (STYLE 6).
func (p *Policy) refuse(err error, addr string) *smtp.Reply {
	who := "<" + addr + ">: "
	var unknown *unknownError
	var r *smtp.Reply
	switch {
	case errors.As(err, &unknown):
		r = smtp.NewReply(550, "5.1.1", who+"Recipient address rejected: User unknown in "+unknown.table)
	case errors.Is(err, errLoop):
		r = smtp.NewReply(550, "5.4.6", who+"Recipient address rejected: mail forwarding loop")
	case errors.Is(err, errTooMany): // RFC 3463 X.5.3: too many recipients
		r = smtp.NewReply(550, "5.5.3", fmt.Sprintf("%sRecipient address rejected: alias expands to more than %d addresses", who, p.cfg.ExpansionLimit))
	case errors.Is(err, errRelayDenied):
		r = smtp.NewReply(554, "5.7.1", who+"Relay access denied")
	default:
		r = smtp.NewReply(451, "4.3.0", who+"Temporary lookup failure")
	}
	return p.softBounce(r)
}

// softBounce turns a permanent refusal into a temporary one when
// soft_bounce = yes: 550 5.1.1 becomes 450 4.1.1, 554 5.7.1 becomes
// 454 4.7.1, as Postfix's smtpd does.
func (p *Policy) softBounce(r *smtp.Reply) *smtp.Reply {
	if !p.cfg.SoftBounce || r.Code < 500 || r.Code >= 600 {
		return r
	}
	r.Code -= 100
	if rest, ok := strings.CutPrefix(r.Enhanced, "5."); ok {
		r.Enhanced = "4." + rest
	}
	return r
}
