package policy

import (
	"context"
	"errors"
	"strings"

	"facteur/internal/address"
	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// SenderOwned decides whether an authenticated client may use sender as
// its MAIL FROM or From address (Postfix's reject_sender_login_mismatch,
// with facteur's notion of an account's addresses). An account owns:
//
//   - the addresses that smtpd_sender_login_maps gives it: the address, or
//     "@domain", as key, owning account names as value (Postfix's
//     direction);
//   - every address that resolves, as a recipient would, to its own
//     mailbox and nothing else: its name in each local domain (with an
//     extension too), an alias or virtual alias that leads only to it, its
//     virtual mailbox.
//
// A client that did not authenticate is not this method's business: nil.
func (p *Policy) SenderOwned(ctx context.Context, client *envelope.Client, sender string) *smtp.Reply {
	if client == nil || client.AuthUser == "" {
		return nil
	}
	user := client.AuthUser
	who := "<" + sender + ">: "
	a, err := address.Parse(sender)
	if err != nil || a.IsZero() {
		return notOwned(who, user)
	}
	owned, err := p.owns(ctx, user, a)
	switch {
	case err != nil:
		return smtp.NewReply(451, "4.3.0", who+"Sender address rejected: Temporary lookup failure")
	case !owned:
		return p.softBounce(notOwned(who, user))
	}
	return nil
}

func notOwned(who, user string) *smtp.Reply {
	return smtp.NewReply(553, "5.7.1", who+"Sender address rejected: not owned by user "+strings.Map(printable, user))
}

// printable keeps a client-chosen name to one line of a reply.
func printable(r rune) rune {
	if r < ' ' || r == 0x7f {
		return '?'
	}
	return r
}

// owns reports whether account user owns address a.
func (p *Policy) owns(ctx context.Context, user string, a address.Address) (bool, error) {
	if ok, err := p.loginMapsOwner(user, a); err != nil || ok {
		return ok, err
	}
	r := newResolver(ctx, p)
	if err := r.top(a); err != nil {
		var unknown *unknownError
		if errors.As(err, &unknown) || errors.Is(err, errLoop) || errors.Is(err, errTooMany) {
			return false, nil
		}
		return false, err
	}
	if len(r.out) == 0 {
		return false, nil
	}
	for _, rc := range r.out {
		if rc.Transport != envelope.TransportLocal || !strings.EqualFold(rc.Dest, user) {
			return false, nil
		}
	}
	return true, nil
}

// loginMapsOwner looks a up in smtpd_sender_login_maps: the address, then
// "@domain"; the first key found decides.
func (p *Policy) loginMapsOwner(user string, a address.Address) (bool, error) {
	t := p.cfg.SenderLogins
	if t == nil {
		return false, nil
	}
	for _, key := range []string{lookupKey(a), "@" + a.Domain} {
		v, found, err := t.Lookup(key)
		if err != nil {
			return false, err
		}
		if !found {
			continue
		}
		for _, owner := range splitList(v) {
			if strings.EqualFold(owner, user) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}
