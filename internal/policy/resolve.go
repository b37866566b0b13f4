package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"facteur/internal/address"
	"facteur/internal/envelope"
)

// Postfix's defaults for the expansion limits of Config: a deeper
// expansion is refused as a loop, a wider one as too many recipients.
const (
	DefaultRecursionLimit = 1000 // virtual_alias_recursion_limit: nesting
	DefaultExpansionLimit = 1000 // virtual_alias_expansion_limit: addresses visited
)

// resolver expands one RCPT TO into its final recipients. chain holds the
// addresses and aliases being expanded on the current path, to find loops.
type resolver struct {
	ctx   context.Context
	p     *Policy
	out   []*envelope.Recipient
	seen  map[string]bool
	steps int
}

func newResolver(ctx context.Context, p *Policy) *resolver {
	return &resolver{ctx: ctx, p: p, seen: make(map[string]bool)}
}

// top resolves the recipient as given at RCPT. The domainless <postmaster>
// is postmaster@$myorigin for virtual_alias_maps (as Postfix's
// trivial-rewrite appends $myorigin) and local otherwise (RFC 5321 §4.5.1).
func (r *resolver) top(rcpt address.Address) error {
	if !rcpt.IsPostmaster() {
		return r.address(rcpt, 0, nil)
	}
	pm := address.Address{Local: "postmaster", Domain: r.p.origin}
	found, err := r.virtual(pm, 0, []string{lookupKey(pm)})
	if err != nil || found {
		return err
	}
	return r.local("postmaster", r.p.origin, 0, nil)
}

// step counts one visited address and enforces the expansion limits.
func (r *resolver) step(depth int) error {
	r.steps++
	switch {
	case depth > r.p.cfg.RecursionLimit: // nesting this deep is a loop in practice
		return errLoop
	case r.steps > r.p.cfg.ExpansionLimit:
		return errTooMany
	}
	return nil
}

// address resolves a full address: virtual_alias_maps apply to every
// address class (Postfix cleanup), then the class of its domain decides.
func (r *resolver) address(a address.Address, depth int, chain []string) error {
	if err := r.step(depth); err != nil {
		return err
	}
	key := lookupKey(a)
	if slices.Contains(chain, key) {
		return errLoop
	}
	chain = append(slices.Clip(chain), key)
	found, err := r.virtual(a, depth, chain)
	if err != nil || found {
		return err
	}
	return r.byClass(a, depth, chain)
}

// virtual expands a through virtual_alias_maps. A result equal to a itself
// is kept as is (Postfix: an alias to itself ends the recursion).
func (r *resolver) virtual(a address.Address, depth int, chain []string) (bool, error) {
	targets, found, err := r.p.virtualLookup(a)
	if err != nil || !found {
		return false, err
	}
	if len(targets) == 0 {
		return true, fmt.Errorf("virtual alias for %s is empty", a)
	}
	for _, t := range targets {
		ta, err := address.Parse(t)
		if err != nil {
			return true, fmt.Errorf("virtual alias for %s: %w", a, err)
		}
		if lookupKey(ta) == lookupKey(a) {
			err = r.byClass(ta, depth, chain)
		} else {
			err = r.address(ta, depth+1, chain)
		}
		if err != nil {
			return true, err
		}
	}
	return true, nil
}

// byClass resolves an address that virtual_alias_maps left alone.
func (r *resolver) byClass(a address.Address, depth int, chain []string) error {
	switch r.p.classify(a.Domain) {
	case classLocal:
		return r.local(a.Local, a.Domain, depth, chain)
	case classVirtualAlias:
		// Postmaster exists in every domain this server accepts mail for
		// (RFC 5321 §4.5.1), even without a virtual alias for it.
		if isPostmaster(a.Local, r.p.cfg.RecipientDelimiter) {
			return r.local("postmaster", a.Domain, depth, chain)
		}
		return &unknownError{tableVirtualAlias}
	case classVirtualMailbox:
		return r.mailbox(a, depth, chain)
	}
	s := a.String()
	r.add(envelope.TransportSMTP, s, s)
	return nil
}

// local resolves a local part of a mydestination domain: alias_maps, then
// the account, then both again without the address extension (Postfix
// local_recipient_maps and local(8)).
func (r *resolver) local(name, domain string, depth int, chain []string) error {
	lname := strings.ToLower(name)
	final := address.Address{Local: lname, Domain: domain}.String()
	ok, err := r.aliasOrAccount(lname, final, domain, depth, chain)
	if err != nil || ok {
		return err
	}
	if base, _ := address.SplitExtension(lname, r.p.cfg.RecipientDelimiter); base != lname {
		ok, err = r.aliasOrAccount(base, final, domain, depth, chain)
		if err != nil || ok {
			return err
		}
	}
	if isPostmaster(lname, r.p.cfg.RecipientDelimiter) {
		// The server creates this account at start when no alias exists.
		r.add(envelope.TransportLocal, "postmaster", final)
		return nil
	}
	return &unknownError{tableLocal}
}

func (r *resolver) aliasOrAccount(name, final, domain string, depth int, chain []string) (bool, error) {
	if r.p.cfg.Aliases != nil {
		if targets, found := r.p.cfg.Aliases.Lookup(name); found {
			return true, r.expandAlias(name, final, domain, targets, depth, chain)
		}
	}
	ok, err := r.p.userExists(r.ctx, name)
	if err != nil || !ok {
		return false, err
	}
	r.add(envelope.TransportLocal, name, final)
	return true, nil
}

// expandAlias resolves each target of the alias name (aliases(5)).
func (r *resolver) expandAlias(name, final, domain string, targets []string, depth int, chain []string) error {
	key := "alias:" + name
	if slices.Contains(chain, key) {
		return errLoop
	}
	chain = append(slices.Clip(chain), key)
	if len(targets) == 0 {
		return fmt.Errorf("alias %s is empty", name)
	}
	for _, t := range targets {
		if err := r.aliasTarget(name, final, domain, t, depth, chain); err != nil {
			return err
		}
	}
	return nil
}

// aliasTarget resolves one alias target: "|command" and "/file" are
// delivered by local(8) with the alias's address as final; "\name" is the
// account itself; "user@domain" is resolved again; a bare name is a local
// name in $myorigin, itself subject to aliases, and the alias's own name is
// its account.
func (r *resolver) aliasTarget(owner, final, domain, t string, depth int, chain []string) error {
	if strings.Contains(t, "@") && !strings.HasPrefix(t, "|") && !strings.HasPrefix(t, "/") {
		a, err := address.Parse(t)
		if err != nil {
			return fmt.Errorf("alias %s: %w", owner, err)
		}
		return r.address(a, depth+1, chain) // counts its own step
	}
	if err := r.step(depth + 1); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(t, "|"), strings.HasPrefix(t, "/"):
		r.add(envelope.TransportLocal, t, final)
		return nil
	case strings.HasPrefix(t, `\`):
		name := strings.ToLower(t[1:])
		r.add(envelope.TransportLocal, name, address.Address{Local: name, Domain: domain}.String())
		return nil
	}
	name := strings.ToLower(t)
	if name == owner {
		r.add(envelope.TransportLocal, owner, address.Address{Local: owner, Domain: domain}.String())
		return nil
	}
	return r.local(name, r.p.origin, depth+1, chain)
}

// mailbox resolves an address of a virtual_mailbox_domains domain: the
// account named by the full address, then without its extension.
func (r *resolver) mailbox(a address.Address, depth int, chain []string) error {
	lname := strings.ToLower(a.Local)
	final := address.Address{Local: lname, Domain: a.Domain}.String()
	names := []string{lname + "@" + a.Domain}
	if base, _ := address.SplitExtension(lname, r.p.cfg.RecipientDelimiter); base != lname {
		names = append(names, base+"@"+a.Domain)
	}
	for _, name := range names {
		ok, err := r.p.userExists(r.ctx, name)
		if err != nil {
			return err
		}
		if ok {
			r.add(envelope.TransportLocal, name, final)
			return nil
		}
	}
	if isPostmaster(lname, r.p.cfg.RecipientDelimiter) {
		return r.local("postmaster", a.Domain, depth, chain)
	}
	return &unknownError{tableVirtualMailbox}
}

// add records a final recipient once.
func (r *resolver) add(transport, dest, final string) {
	key := transport + "\x00" + dest
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	r.out = append(r.out, &envelope.Recipient{Transport: transport, Dest: dest, Final: final})
}

func (p *Policy) userExists(ctx context.Context, name string) (bool, error) {
	if p.cfg.Users == nil {
		return false, nil
	}
	ok, err := p.cfg.Users.UserExists(ctx, name)
	if err != nil {
		return false, fmt.Errorf("looking up account %q: %w", name, err)
	}
	return ok, nil
}

// isPostmaster reports "postmaster", with or without an extension.
func isPostmaster(local, delimiters string) bool {
	base, _ := address.SplitExtension(strings.ToLower(local), delimiters)
	return base == "postmaster"
}

// lookupKey is the table key of an address: lower-case local part and
// domain (Postfix folds keys to lower case).
func lookupKey(a address.Address) string {
	return strings.ToLower(a.Local) + "@" + a.Domain
}
