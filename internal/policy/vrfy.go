package policy

import (
	"context"
	"slices"
	"strings"

	"facteur/internal/address"
	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// Verify answers VRFY (RFC 5321 §3.5.1, §3.5.3): 250 2.0.0 <addr> for a
// recipient delivered here, 252 2.0.0 <addr> for one that would be relayed,
// and the RCPT refusal otherwise. arg is an address, "<address>" or a bare
// local name (qualified with $myorigin).
func (p *Policy) Verify(ctx context.Context, client *envelope.Client, arg string) *smtp.Reply {
	a, ok := p.parseArg(arg)
	if !ok {
		return smtp.NewReply(501, "5.5.4", "Syntax: VRFY address")
	}
	rcpts, reply := p.Recipient(ctx, client, a)
	if reply != nil {
		return reply
	}
	return p.verified(a, rcpts)
}

// Expand answers EXPN (RFC 5321 §3.5.2): for an alias (alias_maps or
// virtual_alias_maps), one 250 line per member address; for anything
// else, as Verify. Command and file targets are never shown: they tell a
// stranger what runs on this host and where it writes. An alias with
// nothing but such targets is answered as Verify answers it.
func (p *Policy) Expand(ctx context.Context, client *envelope.Client, arg string) *smtp.Reply {
	a, ok := p.parseArg(arg)
	if !ok {
		return smtp.NewReply(501, "5.5.4", "Syntax: EXPN address")
	}
	rcpts, reply := p.Recipient(ctx, client, a)
	if reply != nil {
		return reply
	}
	members, err := p.members(a)
	if err != nil {
		return p.refuse(err, a.String())
	}
	members = slices.DeleteFunc(members, isProgramOrFile)
	if len(members) == 0 {
		return p.verified(a, rcpts)
	}
	lines := make([]string, len(members))
	for i, m := range members {
		lines[i] = "<" + m + ">"
	}
	return &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: lines}
}

// verified is the positive VRFY reply: 250 when every recipient is
// delivered here, 252 when some would be relayed (RFC 5321 §3.5.3).
func (p *Policy) verified(a address.Address, rcpts []*envelope.Recipient) *smtp.Reply {
	who := "<" + a.String() + ">"
	for _, rc := range rcpts {
		if rc.Transport != envelope.TransportLocal {
			return smtp.NewReply(252, "2.0.0", who)
		}
	}
	return smtp.NewReply(250, "2.0.0", who)
}

// parseArg reads the argument of VRFY or EXPN: "<address>", possibly
// after a display name, a bare address, or a local name.
func (p *Policy) parseArg(arg string) (address.Address, bool) {
	arg = strings.TrimSpace(arg)
	if i := strings.LastIndexByte(arg, '<'); i >= 0 && strings.HasSuffix(arg, ">") {
		a, err := address.ParseForwardPath(arg[i:], true)
		return a, err == nil && !a.IsZero()
	}
	if arg == "" {
		return address.Address{}, false
	}
	if !strings.Contains(arg, "@") {
		arg += "@" + p.origin
	}
	a, err := address.Parse(arg)
	return a, err == nil
}

// members lists the direct members of a as an alias: its virtual alias
// results, or for a local address its alias_maps targets, bare names
// qualified with $myorigin. A non-alias gives no members.
func (p *Policy) members(a address.Address) ([]string, error) {
	if a.IsPostmaster() {
		a.Domain = p.origin
	}
	targets, found, err := p.virtualLookup(a)
	if err != nil || found {
		return targets, err
	}
	if p.classify(a.Domain) != classLocal || p.cfg.Aliases == nil {
		return nil, nil
	}
	name := strings.ToLower(a.Local)
	targets, found = p.cfg.Aliases.Lookup(name)
	if base, _ := address.SplitExtension(name, p.cfg.RecipientDelimiter); !found && base != name {
		targets, _ = p.cfg.Aliases.Lookup(base)
	}
	out := make([]string, 0, len(targets))
	for _, t := range targets {
		t = strings.TrimPrefix(t, `\`)
		if !strings.Contains(t, "@") && !isProgramOrFile(t) {
			t = address.Address{Local: strings.ToLower(t), Domain: p.origin}.String()
		}
		out = append(out, t)
	}
	return out, nil
}

// isProgramOrFile reports an alias target that is a "|command" or a
// "/file" rather than an address (aliases(5)).
func isProgramOrFile(t string) bool {
	return strings.HasPrefix(t, "|") || strings.HasPrefix(t, "/")
}
