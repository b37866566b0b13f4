package smtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"facteur/internal/dns"
	"facteur/internal/queue"
)

// target is one address to connect to: the host name it was found under
// (an MX host, the relay, or the address itself), the address and port.
type target struct {
	host string
	addr netip.Addr
	port int
}

// name is the host as Postfix names it in texts: "mx.example.org[192.0.2.1]".
func (t target) name() string { return t.host + "[" + t.addr.String() + "]" }

// relay is the host with its port, the Relay of a result.
func (t target) relay() string { return t.name() + ":" + strconv.Itoa(t.port) }

// port is the port to dial for h: Options.Port unless h names another
// than 25.
func (c *Client) port(h nexthop) int {
	if h.Port == 0 || h.Port == DefaultPort {
		return c.opt.Port
	}
	return h.Port
}

// mxHost is one host of the MX list with the addresses it resolved to.
type mxHost struct {
	name  string
	pref  uint16
	addrs []netip.Addr
	err   error // the address lookup's failure, when addrs is empty
}

// resolve returns the addresses to try for h, in order, at most
// maxAddresses; or the result for every recipient when there are none
// (RFC 5321 §5.1).
func (c *Client) resolve(ctx context.Context, h nexthop) ([]target, *queue.Result) {
	hosts, res := c.hosts(ctx, h)
	if res != nil {
		return nil, res
	}
	// Only an MX list is checked for ourselves, as Postfix does: a next
	// hop in brackets is the operator's explicit choice, often this very
	// machine on another port.
	if !h.NoMX {
		if hosts, res = c.dropSelf(h, hosts); res != nil {
			return nil, res
		}
	}
	port := c.port(h)
	var targets []target
	var lookupErr error
	for _, mx := range hosts {
		if mx.err != nil {
			lookupErr = mx.err
		}
		for _, a := range mx.addrs {
			if len(targets) == maxAddresses {
				return targets, nil
			}
			if !slices.ContainsFunc(targets, func(t target) bool { return t.addr == a }) {
				targets = append(targets, target{host: mx.name, addr: a, port: port})
			}
		}
	}
	if len(targets) == 0 {
		res := c.notFound(h, lookupErr)
		return nil, &res
	}
	return targets, nil
}

// hosts returns the hosts of h with their addresses: the MX list by
// preference (equal preferences in random order), the implicit MX of a
// domain without MX records, or the host itself for [host].
func (c *Client) hosts(ctx context.Context, h nexthop) ([]mxHost, *queue.Result) {
	if h.NoMX {
		return []mxHost{c.lookupHost(ctx, h.Host, 0)}, nil
	}
	mxs, err := c.opt.Resolver.LookupMX(ctx, h.Host)
	switch {
	case errors.Is(err, dns.ErrNotFound):
		// RFC 5321 §5.1: no MX records, the domain is its own implicit MX.
		mx := c.lookupHost(ctx, h.Host, 0)
		if errors.Is(mx.err, dns.ErrNotFound) && h.Domain {
			res := bounced("5.1.2", nameError(h.Host, "A", false))
			return nil, &res
		}
		return []mxHost{mx}, nil
	case err != nil:
		c.debug.Info("MX lookup failed", "domain", h.Host, "err", err)
		res := deferred("4.4.3", nameError(h.Host, "MX", true))
		return nil, &res
	}
	// RFC 7505 §3: a single MX record whose exchange is "." says that the
	// domain accepts no mail.
	if len(mxs) == 1 && mxs[0].Host == "." {
		res := bounced("5.1.10", fmt.Sprintf("recipient domain %s does not accept mail (null MX)", h.Host))
		return nil, &res
	}
	mxs = slices.DeleteFunc(slices.Clone(mxs), func(mx *net.MX) bool { return mx.Host == "." || mx.Host == "" })
	shuffleEqual(mxs)
	hosts := make([]mxHost, 0, len(mxs))
	for _, mx := range mxs {
		hosts = append(hosts, c.lookupHost(ctx, mx.Host, mx.Pref))
	}
	return hosts, nil
}

// shuffleEqual puts MX records of equal preference in random order
// (RFC 5321 §5.1: to spread the load), keeping the preference order.
func shuffleEqual(mxs []*net.MX) {
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	for i := 0; i < len(mxs); {
		j := i + 1
		for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
			j++
		}
		run := mxs[i:j]
		rand.Shuffle(len(run), func(a, b int) { run[a], run[b] = run[b], run[a] })
		i = j
	}
}

// lookupHost resolves one host; an address needs no lookup.
func (c *Client) lookupHost(ctx context.Context, host string, pref uint16) mxHost {
	host = strings.TrimSuffix(host, ".")
	mx := mxHost{name: host, pref: pref}
	if a, err := netip.ParseAddr(host); err == nil {
		mx.addrs = []netip.Addr{a.Unmap()}
		return mx
	}
	addrs, err := c.opt.Resolver.LookupIP(ctx, host)
	if err != nil {
		c.debug.Info("address lookup failed", "host", host, "err", err)
		mx.err = err
		return mx
	}
	for _, a := range addrs {
		mx.addrs = append(mx.addrs, a.Unmap())
	}
	return mx
}

// dropSelf applies RFC 5321 §5.1: when an MX host is this server (by
// name, or by one of its addresses), it and every host of the same or a
// higher preference are dropped; none left is a mail loop.
func (c *Client) dropSelf(h nexthop, hosts []mxHost) ([]mxHost, *queue.Result) {
	local := c.opt.LocalAddrs()
	for i, mx := range hosts {
		self := strings.EqualFold(mx.name, strings.TrimSuffix(c.opt.Hostname, "."))
		for _, a := range mx.addrs {
			self = self || slices.Contains(local, a)
		}
		if !self {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(hosts[:i]), func(o mxHost) bool { return o.pref >= mx.pref })
		if len(kept) == 0 {
			res := bounced("5.4.6", fmt.Sprintf("mail for %s loops back to myself", h.key()))
			return nil, &res
		}
		return kept, nil
	}
	return hosts, nil
}

// notFound is the result when no host of h has an address: deferred when
// a lookup failed for now; otherwise a bounce for a recipient domain and
// a deferral for a configured next hop, whose failure is ours to fix
// (Postfix: "relayhost configuration problem").
func (c *Client) notFound(h nexthop, err error) queue.Result {
	host := h.Host
	var de *dns.Error
	if errors.As(err, &de) {
		host = de.Name
	}
	if err == nil || errors.Is(err, dns.ErrNotFound) {
		text := nameError(host, "A", false)
		if h.Domain {
			return bounced("5.4.4", text)
		}
		c.log.Warn("%s configuration problem: %s", h.key(), text)
		return deferred("4.3.5", text)
	}
	return deferred("4.4.3", nameError(host, "A", true))
}

// nameError is Postfix's text for a failed lookup.
func nameError(name, typ string, temporary bool) string {
	s := fmt.Sprintf("Host or domain name not found. Name service error for name=%s type=%s: Host not found", name, typ)
	if temporary {
		s += ", try again"
	}
	return s
}
