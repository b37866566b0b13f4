package policy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

var errBroken = errors.New("table unavailable")

// fakeUsers is a set of account names; names in fail give an error.
type fakeUsers struct {
	names map[string]bool
	fail  map[string]bool
}

func (u fakeUsers) UserExists(_ context.Context, name string) (bool, error) {
	if u.fail[name] {
		return false, errBroken
	}
	return u.names[name], nil
}

// fakeTable is virtual_alias_maps; keys in fail give an error.
type fakeTable struct {
	m    map[string]string
	fail map[string]bool
}

func (t fakeTable) Lookup(key string) (string, bool, error) {
	if t.fail[key] {
		return "", false, errBroken
	}
	v, ok := t.m[key]
	return v, ok, nil
}

type fakeAliases map[string][]string

func (a fakeAliases) Lookup(name string) ([]string, bool) {
	t, ok := a[name]
	return append([]string(nil), t...), ok
}

type fakeNetworks []netip.Prefix

func (n fakeNetworks) Contains(ip netip.Addr) bool {
	for _, p := range n {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// testConfig is the configuration every policy test starts from.
func testConfig() Config {
	aliases := fakeAliases{
		"info":   {"toto", "petit"},
		"root":   {"toto"},
		"self":   {"self", "toto"},
		"direct": {`\toto`},
		"pipe":   {"|/usr/bin/procmail"},
		"file":   {"/var/mail/archive"},
		"mixed":  {"toto", "|/usr/bin/vacation toto@exemple1.com", "/var/mail/archive", "someone@elsewhere.example"},
		"remote": {"someone@elsewhere.example"},
		"loop1":  {"loop2"},
		"loop2":  {"loop1"},
		"dup":    {"toto", "toto@exemple2.com", "root"},
		"broken": {"bad address@x"},
		"vback":  {"carol@vmail.example"},
		"ghost":  {"nosuchuser"},
	}
	for i := range 25 {
		aliases[fmt.Sprintf("deep%d", i)] = []string{fmt.Sprintf("deep%d", i+1)}
	}
	aliases["deep25"] = []string{"toto"}
	wide := make([]string, 1001)
	for i := range wide {
		wide[i] = fmt.Sprintf("w%d@relay.example", i)
	}
	aliases["wide"] = wide
	aliases["wide999"] = wide[:999]
	return Config{
		MyDestination:         []string{"exemple1.com", "Exemple2.COM", "localhost", "[127.0.0.1]"},
		RelayDomains:          []string{"relay.example", ".sub.relay.example"},
		VirtualAliasDomains:   []string{"valias.example", "catchall.example"},
		VirtualMailboxDomains: []string{"vmail.example"},
		MyNetworks:            fakeNetworks{netip.MustParsePrefix("192.0.2.0/24")},
		RecipientDelimiter:    "+",
		MyOrigin:              "exemple1.com",
		LocalAddrs:            []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")},
		RecursionLimit:        20, // the deep0..deep25 chain goes past it, deep10 does not
		Users: fakeUsers{
			names: map[string]bool{"toto": true, "petit": true, "self": true, "bob@vmail.example": true, "carol@vmail.example": true},
			fail:  map[string]bool{"kaput": true},
		},
		Aliases: aliases,
		VirtualAliases: fakeTable{
			m: map[string]string{
				"sales@valias.example":      "toto@exemple1.com, bob@vmail.example",
				"@catchall.example":         "toto",
				"jean+promo@valias.example": "petit@exemple1.com",
				"jean@valias.example":       "pascal@relay.example",
				"petit@exemple2.com":        "petit@exemple2.com toto@exemple1.com",
				"vl1@valias.example":        "vl2@valias.example",
				"vl2@valias.example":        "vl1@valias.example",
				"remote@elsewhere.example":  "toto@exemple1.com",
				"bob@valias.example":        "@vmail.example",
			},
			fail: map[string]bool{"tmp@valias.example": true},
		},
	}
}
