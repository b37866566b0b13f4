// Package policy decides, at RCPT time, who may send what to whom, and
// resolves each accepted recipient to where its mail goes, with Postfix's
// rules and Postfix's replies: the address classes of trivial-rewrite
// (mydestination, virtual_alias_domains, virtual_mailbox_domains,
// relay_domains, everything else), smtpd_relay_restrictions with
// permit_mynetworks, permit_sasl_authenticated and reject_unauth_destination,
// virtual_alias_maps, alias_maps, local_recipient_maps and
// virtual_mailbox_maps. It also answers VRFY and EXPN (RFC 5321 §3.5), and
// which sender addresses an authenticated account owns
// (reject_sender_login_mismatch, smtpd_sender_login_maps).
//
// Postmaster always exists (RFC 5321 §4.5.1). Refusals carry the enhanced
// status codes of RFC 3463; soft_bounce turns every permanent refusal into
// a temporary one.
//
// policy only looks things up: the tables, the alias map and the account
// list are interfaces declared here and filled by the caller.
package policy

import (
	"context"
	"net/netip"
	"strings"

	"facteur/internal/address"
	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// Users tells whether an account exists: "toto" for a mydestination
// domain, "bob@example.org" for a virtual mailbox domain.
type Users interface {
	UserExists(ctx context.Context, name string) (bool, error)
}

// Table is a lookup table such as virtual_alias_maps. A value is a list of
// addresses separated by commas and/or white space.
type Table interface {
	Lookup(key string) (value string, found bool, err error)
}

// AliasMap is alias_maps: a lower-case local part to its targets.
type AliasMap interface {
	Lookup(name string) (targets []string, found bool)
}

// Networks is mynetworks.
type Networks interface {
	Contains(netip.Addr) bool
}

// Config is what a Policy needs from main.cf and its tables. Domain lists
// are already expanded; an entry starting with "." matches every
// subdomain of what follows it. Nil tables are empty.
type Config struct {
	MyDestination, RelayDomains, VirtualAliasDomains, VirtualMailboxDomains []string

	MyNetworks         Networks
	RecipientDelimiter string
	SoftBounce         bool
	// MyOrigin qualifies bare names: alias targets like "toto", a VRFY of
	// "toto" and the domainless <postmaster>.
	MyOrigin string
	// LocalAddrs are this server's own addresses: an address literal
	// naming one of them is a local domain (Postfix resolve_numeric_domain).
	LocalAddrs []netip.Addr
	// ExpansionLimit and RecursionLimit bound alias expansion (Postfix's
	// virtual_alias_expansion_limit and virtual_alias_recursion_limit):
	// addresses visited for one recipient, and nesting depth. 0 means
	// DefaultExpansionLimit and DefaultRecursionLimit.
	ExpansionLimit, RecursionLimit int

	Users          Users
	Aliases        AliasMap
	VirtualAliases Table
	// SenderLogins is smtpd_sender_login_maps: extra sender addresses of
	// authenticated accounts (see SenderOwned).
	SenderLogins Table
}

// Policy answers RCPT, VRFY and EXPN. It is safe for concurrent use: it
// holds no mutable state of its own.
type Policy struct {
	cfg                             Config
	mydest, relay, valias, vmailbox domainList
	localAddrs                      map[netip.Addr]bool
	origin                          string
}

// New builds a Policy from cfg.
func New(cfg Config) *Policy {
	p := &Policy{
		cfg:        cfg,
		mydest:     newDomainList(cfg.MyDestination),
		relay:      newDomainList(cfg.RelayDomains),
		valias:     newDomainList(cfg.VirtualAliasDomains),
		vmailbox:   newDomainList(cfg.VirtualMailboxDomains),
		localAddrs: make(map[netip.Addr]bool),
	}
	for _, ip := range cfg.LocalAddrs {
		p.localAddrs[ip.Unmap()] = true
	}
	p.origin = normalize(cfg.MyOrigin)
	if p.cfg.ExpansionLimit <= 0 {
		p.cfg.ExpansionLimit = DefaultExpansionLimit
	}
	if p.cfg.RecursionLimit <= 0 {
		p.cfg.RecursionLimit = DefaultRecursionLimit
	}
	if p.origin == "" && len(cfg.MyDestination) > 0 {
		p.origin = normalize(cfg.MyDestination[0])
	}
	if p.origin == "" {
		p.origin = "localhost"
	}
	return p
}

// ClientTrusted reports a client address in mynetworks (Postfix
// permit_mynetworks). IPv4-mapped IPv6 addresses match as IPv4.
func (p *Policy) ClientTrusted(addr netip.Addr) bool {
	if p.cfg.MyNetworks == nil || !addr.IsValid() {
		return false
	}
	return p.cfg.MyNetworks.Contains(addr) ||
		(addr.Is4In6() && p.cfg.MyNetworks.Contains(addr.Unmap()))
}

// mayRelay applies smtpd_relay_restrictions = permit_mynetworks,
// permit_sasl_authenticated, reject_unauth_destination. A nil client is a
// local submission (sendmail), which may always relay.
func (p *Policy) mayRelay(client *envelope.Client) bool {
	return client == nil || client.AuthUser != "" || client.Local || p.ClientTrusted(client.Addr)
}

// Recipient decides on one RCPT TO. A nil reply means accepted; the
// recipients are then where the mail goes after alias expansion, each
// with Addr set to rcpt as given (domain in lower case).
func (p *Policy) Recipient(ctx context.Context, client *envelope.Client, rcpt address.Address) ([]*envelope.Recipient, *smtp.Reply) {
	addr := rcpt.String()
	if rcpt.IsZero() {
		return nil, smtp.NewReply(501, "5.1.3", "Bad recipient address syntax")
	}
	// reject_unauth_destination looks at the recipient as given, before
	// any virtual alias rewriting (Postfix smtpd_check.c).
	if !rcpt.IsPostmaster() && p.classify(rcpt.Domain) == classRemote && !p.mayRelay(client) {
		return nil, p.refuse(errRelayDenied, addr)
	}
	r := newResolver(ctx, p)
	if err := r.top(rcpt); err != nil {
		return nil, p.refuse(err, addr)
	}
	for _, rc := range r.out {
		rc.Addr = addr
	}
	return r.out, nil
}

// domainList is an expanded domain list: exact domains, and parents whose
// subdomains match (entries written ".example.com").
type domainList struct {
	exact   map[string]bool
	parents []string
}

func newDomainList(entries []string) domainList {
	l := domainList{exact: make(map[string]bool)}
	for _, e := range entries {
		if parent, ok := strings.CutPrefix(e, "."); ok {
			l.parents = append(l.parents, "."+normalize(parent))
			continue
		}
		l.exact[normalize(e)] = true
	}
	return l
}

func (l domainList) match(domain string) bool {
	if l.exact[domain] {
		return true
	}
	for _, p := range l.parents {
		if strings.HasSuffix(domain, p) {
			return true
		}
	}
	return false
}

// normalize gives a configured domain the form address gives parsed
// domains, falling back to lower case for what does not parse.
func normalize(d string) string {
	if n, err := address.NormalizeDomain(d); err == nil {
		return n
	}
	return strings.ToLower(d)
}

// class is an address class of Postfix's trivial-rewrite.
type class int

const (
	classRemote class = iota
	classLocal
	classVirtualAlias
	classVirtualMailbox
	classRelay
)

// classify gives a normalised domain's address class, in trivial-rewrite's
// order: local first, then virtual alias, virtual mailbox, relay.
func (p *Policy) classify(domain string) class {
	switch {
	case domain == "" || p.mydest.match(domain) || p.isLocalLiteral(domain):
		return classLocal
	case p.valias.match(domain):
		return classVirtualAlias
	case p.vmailbox.match(domain):
		return classVirtualMailbox
	case p.relay.match(domain):
		return classRelay
	}
	return classRemote
}

// isLocalLiteral reports an address literal naming one of this server's
// addresses (Postfix resolve_numeric_domain).
func (p *Policy) isLocalLiteral(domain string) bool {
	ip, ok := address.Address{Domain: domain}.IP()
	return ok && p.localAddrs[ip.Unmap()]
}
