package smtp

import (
	"fmt"
	"strings"

	"facteur/internal/address"
	"facteur/internal/config"
	"facteur/internal/envelope"
	"facteur/internal/queue"
)

// nexthop is where a group of recipients goes: a host looked up by MX
// (or, with NoMX, connected to directly) on a port. Domain is set when
// Host is the recipients' own domain rather than a configured relay.
type nexthop struct {
	config.Relayhost
	Domain bool
}

// key names the next hop for the per-destination state, in Postfix's
// form: "example.org", "[192.0.2.1]:2525".
func (h nexthop) key() string {
	if h.Domain {
		return strings.ToLower(h.Host)
	}
	r := h.Relayhost
	r.Host = strings.ToLower(r.Host)
	return r.String()
}

// rcpt is one recipient of a group: its index in the caller's slice and
// its parsed address.
type rcpt struct {
	i    int
	addr address.Address
	r    *envelope.Recipient
}

// group is the recipients of a message that go to one next hop.
type group struct {
	hop   nexthop
	rcpts []rcpt
}

// route groups rcpts by next hop, in order of first appearance, and
// fills the results of the recipients that need no connection.
func (c *Client) route(env *envelope.Envelope, rcpts []*envelope.Recipient, results []queue.Result) []*group {
	byKey := make(map[string]*group)
	var groups []*group
	for i, r := range rcpts {
		dest := r.Dest
		if dest == "" {
			dest = r.Addr
		}
		a, err := address.Parse(dest)
		if err != nil || a.Domain == "" {
			results[i] = bounced("5.1.3", fmt.Sprintf("bad address syntax: %q", dest))
			continue
		}
		hop, res := c.nexthop(a)
		if res != nil {
			results[i] = *res
			continue
		}
		k := hop.key()
		g := byKey[k]
		if g == nil {
			g = &group{hop: hop}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.rcpts = append(g.rcpts, rcpt{i: i, addr: a, r: r})
	}
	return groups
}

// nexthop decides where a recipient goes (Postfix's trivial-rewrite):
// transport_maps, else relayhost, else its domain by MX. A recipient that
// needs no connection gets its result instead.
func (c *Client) nexthop(a address.Address) (nexthop, *queue.Result) {
	if c.opt.Transports != nil {
		v, found, err := c.lookupTransport(a)
		if err != nil {
			c.debug.Error("transport_maps lookup", "domain", a.Domain, "err", err)
			res := deferred("4.3.0", "transport_maps lookup failure")
			return nexthop{}, &res
		}
		if found {
			return c.transportEntry(a, v)
		}
	}
	if c.opt.Relayhost.Host != "" {
		return nexthop{Relayhost: c.opt.Relayhost}, nil
	}
	return domainHop(a), nil
}

// domainHop is the recipient domain as next hop: by MX, or an address
// literal connected to directly.
func domainHop(a address.Address) nexthop {
	if ip, ok := a.IP(); ok {
		return nexthop{Relayhost: config.Relayhost{Host: ip.String(), Port: DefaultPort, NoMX: true}}
	}
	return nexthop{Relayhost: config.Relayhost{Host: strings.ToLower(a.ASCIIDomain())}, Domain: true}
}

// lookupTransport looks a recipient up in transport_maps as Postfix does
// (transport(5)): the address, the domain, each parent domain as
// ".parent" (".example.org" matches sub.example.org), then "*".
func (c *Client) lookupTransport(a address.Address) (string, bool, error) {
	keys := []string{a.String(), a.Domain}
	for d := a.Domain; !strings.HasPrefix(d, "["); {
		_, parent, ok := strings.Cut(d, ".")
		if !ok || parent == "" {
			break
		}
		keys = append(keys, "."+parent)
		d = parent
	}
	keys = append(keys, "*")
	for _, k := range keys {
		v, found, err := c.opt.Transports.Lookup(k)
		if err != nil || found {
			return strings.TrimSpace(v), found, err
		}
	}
	return "", false, nil
}

// transportEntry reads a transport_maps value: "smtp:NEXTHOP",
// "relay:NEXTHOP", "smtp:" (the recipient domain by MX), ":NEXTHOP",
// "error:TEXT" and "retry:TEXT" (Postfix's error(8): bounce or defer,
// with TEXT's leading enhanced status code if it has one).
func (c *Client) transportEntry(a address.Address, v string) (nexthop, *queue.Result) {
	transport, arg, _ := strings.Cut(v, ":")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(strings.TrimSpace(transport)) {
	case "", "smtp", "relay":
		if arg == "" {
			return domainHop(a), nil
		}
		rh, err := config.ParseRelayhost(arg)
		if err != nil {
			c.debug.Error("bad next hop in transport_maps", "domain", a.Domain, "value", v, "err", err)
			res := deferred("4.3.5", "mail transport unavailable: bad next hop in transport_maps")
			return nexthop{}, &res
		}
		return nexthop{Relayhost: rh}, nil
	case "error":
		dsn, text := errorText(arg, "5.0.0")
		res := bounced(dsn, text)
		return nexthop{}, &res
	case "retry":
		dsn, text := errorText(arg, "4.0.0")
		res := deferred(dsn, text)
		return nexthop{}, &res
	}
	c.debug.Error("transport not offered for remote mail", "domain", a.Domain, "value", v)
	res := deferred("4.3.5", "mail transport unavailable")
	return nexthop{}, &res
}

// errorText splits "5.7.1 text" into its status code and text; a text
// without a code of the right class gets def.
func errorText(arg, def string) (string, string) {
	code, text, _ := strings.Cut(arg, " ")
	if validDSN(code) && code[0] == def[0] {
		arg, def = strings.TrimSpace(text), code
	}
	if arg == "" {
		arg = "mail delivery disabled by transport_maps"
	}
	return def, arg
}

// validDSN checks class.subject.detail (RFC 3463 §2).
func validDSN(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
