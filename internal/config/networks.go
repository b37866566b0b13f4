package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Networks is a set of IP networks: mynetworks.
type Networks struct {
	prefixes []netip.Prefix
}

// Contains reports whether a is in one of the networks. An IPv4-mapped
// IPv6 address counts as its IPv4 address.
func (n *Networks) Contains(a netip.Addr) bool {
	if n == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range n.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Prefixes returns the networks, in order.
func (n *Networks) Prefixes() []netip.Prefix {
	if n == nil {
		return nil
	}
	return slices.Clone(n.prefixes)
}

// String returns the networks as postconf shows mynetworks: IPv6 networks
// in brackets ("127.0.0.0/8 [::1]/128").
func (n *Networks) String() string {
	if n == nil {
		return ""
	}
	parts := make([]string, len(n.prefixes))
	for i, p := range n.prefixes {
		if p.Addr().Is6() {
			parts[i] = "[" + p.Addr().String() + "]/" + fmt.Sprint(p.Bits())
		} else {
			parts[i] = p.String()
		}
	}
	return strings.Join(parts, " ")
}

// add appends p unless it is already there.
func (n *Networks) add(p netip.Prefix) {
	if !slices.Contains(n.prefixes, p) {
		n.prefixes = append(n.prefixes, p)
	}
}

// parseNetwork reads one mynetworks entry: a CIDR network, a bare address,
// an IPv6 one optionally in brackets ("[::1]/128", "[2001:db8::1]").
// Host bits set under the mask are an error, as in Postfix.
func parseNetwork(s string) (netip.Prefix, error) {
	t := s
	if strings.HasPrefix(t, "[") {
		end := strings.IndexByte(t, ']')
		if end < 0 {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
		t = t[1:end] + t[end+1:]
	}
	if !strings.Contains(t, "/") {
		a, err := netip.ParseAddr(t)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("bad network %q: host bits set, perhaps %s", s, p.Masked())
	}
	return p, nil
}

// ParseNetworks reads a mynetworks list: CIDR networks, bare addresses,
// bracketed IPv6 ("[::1]/128") and "cidr:FILE" tables, whose networks are
// read from the file (results ignored).
func ParseNetworks(list []string) (*Networks, error) {
	n := &Networks{}
	for _, s := range list {
		if path, ok := strings.CutPrefix(s, "cidr:"); ok {
			t, err := readCIDR(path)
			if err != nil {
				return nil, err
			}
			for _, e := range t {
				n.add(e.net)
			}
			continue
		}
		p, err := parseNetwork(s)
		if err != nil {
			return nil, err
		}
		n.add(p)
	}
	return n, nil
}

// StyleNetworks computes mynetworks from mynetworks_style and the
// interface prefixes: "host" trusts each interface address, "subnet" each
// interface's network, "class" each IPv4 interface's class A, B or C
// network (IPv6: the interface's network). Loopback is always trusted.
func StyleNetworks(style string, ifaces []netip.Prefix) (*Networks, error) {
	if !slices.Contains([]string{"host", "subnet", "class"}, style) {
		return nil, fmt.Errorf("unknown mynetworks_style %q (want host, subnet or class)", style)
	}
	n := &Networks{}
	n.add(netip.MustParsePrefix("127.0.0.0/8"))
	n.add(netip.MustParsePrefix("::1/128"))
	for _, p := range ifaces {
		a := p.Addr().Unmap()
		p = netip.PrefixFrom(a, min(p.Bits(), a.BitLen()))
		switch style {
		case "host":
			n.add(netip.PrefixFrom(a, a.BitLen()))
		case "subnet":
			n.add(p.Masked())
		case "class":
			if q, ok := classNetwork(p); ok {
				n.add(q)
			}
		}
	}
	return n, nil
}

// classNetwork returns the classful network of an IPv4 address (RFC 791
// §3.2 classes A, B and C); D and E have none. IPv6 keeps its prefix.
func classNetwork(p netip.Prefix) (netip.Prefix, bool) {
	a := p.Addr()
	if a.Is6() {
		return p.Masked(), true
	}
	first := a.As4()[0]
	switch {
	case first < 128:
		return netip.PrefixFrom(a, 8).Masked(), true
	case first < 192:
		return netip.PrefixFrom(a, 16).Masked(), true
	case first < 224:
		return netip.PrefixFrom(a, 24).Masked(), true
	}
	return netip.Prefix{}, false
}

// MyNetworks returns the trusted networks of c: mynetworks when it is not
// empty (cidr: files relative to the configuration's directory), else the
// networks computed from mynetworks_style.
func MyNetworks(c *Config, ifaces []netip.Prefix) (*Networks, error) {
	list := c.List("mynetworks")
	if len(list) == 0 {
		return StyleNetworks(c.Get("mynetworks_style"), ifaces)
	}
	for i, s := range list {
		if strings.HasPrefix(s, "cidr:") {
			list[i] = c.ResolveSpec(s)
		}
	}
	return ParseNetworks(list)
}
