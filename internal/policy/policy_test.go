package policy

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"facteur/internal/address"
	"facteur/internal/envelope"
)

func local(dest, final string) envelope.Recipient {
	return envelope.Recipient{Transport: envelope.TransportLocal, Dest: dest, Final: final}
}

func remote(addr string) envelope.Recipient {
	return envelope.Recipient{Transport: envelope.TransportSMTP, Dest: addr, Final: addr}
}

func wideWant(n int) []envelope.Recipient {
	out := make([]envelope.Recipient, n)
	for i := range out {
		out[i] = remote(fmt.Sprintf("w%d@relay.example", i))
	}
	return out
}

var (
	stranger = &envelope.Client{Addr: netip.MustParseAddr("203.0.113.5")}
	inNets   = &envelope.Client{Addr: netip.MustParseAddr("192.0.2.5")}
	inNets6  = &envelope.Client{Addr: netip.MustParseAddr("::ffff:192.0.2.5")}
	authed   = &envelope.Client{Addr: netip.MustParseAddr("203.0.113.5"), AuthUser: "toto"}
	flagged  = &envelope.Client{Addr: netip.MustParseAddr("203.0.113.5"), Local: true}
)

func TestRecipient(t *testing.T) {
	soft := func(c *Config) { c.SoftBounce = true }
	tests := []struct {
		name   string
		mod    func(*Config)
		client *envelope.Client
		rcpt   string
		want   []envelope.Recipient
		reply  string
	}{
		// mydestination: accounts, case, delimiter.
		{name: "account", rcpt: "toto@exemple1.com", want: []envelope.Recipient{local("toto", "toto@exemple1.com")}},
		{name: "second local domain", rcpt: "TOTO@Exemple2.com", want: []envelope.Recipient{local("toto", "toto@exemple2.com")}},
		{name: "extension", rcpt: "petit+adieve@exemple1.com", want: []envelope.Recipient{local("petit", "petit+adieve@exemple1.com")}},
		{name: "no delimiter", mod: func(c *Config) { c.RecipientDelimiter = "" }, rcpt: "petit+adieve@exemple1.com",
			reply: "550 5.1.1 <petit+adieve@exemple1.com>: Recipient address rejected: User unknown in local recipient table"},
		{name: "unknown local", rcpt: "unknown@exemple1.com",
			reply: "550 5.1.1 <unknown@exemple1.com>: Recipient address rejected: User unknown in local recipient table"},
		{name: "unknown local soft", mod: soft, rcpt: "unknown@exemple1.com",
			reply: "450 4.1.1 <unknown@exemple1.com>: Recipient address rejected: User unknown in local recipient table"},
		{name: "no users", mod: func(c *Config) { c.Users = nil }, rcpt: "toto@exemple1.com",
			reply: "550 5.1.1 <toto@exemple1.com>: Recipient address rejected: User unknown in local recipient table"},
		{name: "users error", rcpt: "kaput@exemple1.com", reply: "451 4.3.0 <kaput@exemple1.com>: Temporary lookup failure"},
		{name: "users error not soft-bounced", mod: soft, rcpt: "kaput@exemple1.com", reply: "451 4.3.0 <kaput@exemple1.com>: Temporary lookup failure"},
		{name: "literal in mydestination", rcpt: "toto@[127.0.0.1]", want: []envelope.Recipient{local("toto", "toto@[127.0.0.1]")}},
		{name: "literal of own address", rcpt: "toto@[198.51.100.7]", want: []envelope.Recipient{local("toto", "toto@[198.51.100.7]")}},
		{name: "IPv6 literal of own address", rcpt: "toto@[IPv6:2001:db8:0::7]", want: []envelope.Recipient{local("toto", "toto@[IPv6:2001:db8::7]")}},
		{name: "foreign literal", rcpt: "toto@[203.0.113.9]", reply: "554 5.7.1 <toto@[203.0.113.9]>: Relay access denied"},

		// postmaster (RFC 5321 §4.5.1).
		{name: "bare postmaster", rcpt: "PostMaster", want: []envelope.Recipient{local("postmaster", "postmaster@exemple1.com")}},
		{name: "postmaster at local domain", rcpt: "Postmaster@exemple2.com", want: []envelope.Recipient{local("postmaster", "postmaster@exemple2.com")}},
		{name: "postmaster alias", mod: func(c *Config) { c.Aliases.(fakeAliases)["postmaster"] = []string{"petit"} },
			rcpt: "postmaster", want: []envelope.Recipient{local("petit", "petit@exemple1.com")}},
		{name: "postmaster virtual alias", mod: func(c *Config) { c.VirtualAliases.(fakeTable).m["postmaster@exemple1.com"] = "petit@exemple1.com" },
			rcpt: "postmaster", want: []envelope.Recipient{local("petit", "petit@exemple1.com")}},
		{name: "postmaster at virtual alias domain", rcpt: "postmaster@valias.example", want: []envelope.Recipient{local("postmaster", "postmaster@valias.example")}},
		{name: "postmaster at virtual mailbox domain", rcpt: "postmaster@vmail.example", want: []envelope.Recipient{local("postmaster", "postmaster@vmail.example")}},

		// alias_maps.
		{name: "alias to accounts", rcpt: "info@exemple2.com", want: []envelope.Recipient{local("toto", "toto@exemple1.com"), local("petit", "petit@exemple1.com")}},
		{name: "alias with extension", rcpt: "info+x@exemple1.com", want: []envelope.Recipient{local("toto", "toto@exemple1.com"), local("petit", "petit@exemple1.com")}},
		{name: "alias to pipe", rcpt: "pipe@exemple1.com", want: []envelope.Recipient{local("|/usr/bin/procmail", "pipe@exemple1.com")}},
		{name: "alias to file", rcpt: "file@exemple1.com", want: []envelope.Recipient{local("/var/mail/archive", "file@exemple1.com")}},
		{name: "alias to itself", rcpt: "self@exemple1.com", want: []envelope.Recipient{local("self", "self@exemple1.com"), local("toto", "toto@exemple1.com")}},
		{name: "alias with backslash", rcpt: "direct@exemple2.com", want: []envelope.Recipient{local("toto", "toto@exemple2.com")}},
		{name: "alias to remote, any client", client: stranger, rcpt: "remote@exemple1.com", want: []envelope.Recipient{remote("someone@elsewhere.example")}},
		{name: "alias to virtual mailbox", rcpt: "vback@exemple1.com", want: []envelope.Recipient{local("carol@vmail.example", "carol@vmail.example")}},
		{name: "duplicates removed", rcpt: "dup@exemple1.com", want: []envelope.Recipient{local("toto", "toto@exemple1.com")}},
		{name: "alias loop", rcpt: "loop1@exemple1.com", reply: "550 5.4.6 <loop1@exemple1.com>: Recipient address rejected: mail forwarding loop"},
		{name: "alias loop soft", mod: soft, rcpt: "loop1@exemple1.com", reply: "450 4.4.6 <loop1@exemple1.com>: Recipient address rejected: mail forwarding loop"},
		{name: "too deep", rcpt: "deep0@exemple1.com", reply: "550 5.4.6 <deep0@exemple1.com>: Recipient address rejected: mail forwarding loop"},
		{name: "deep but within limit", rcpt: "deep10@exemple1.com", want: []envelope.Recipient{local("toto", "toto@exemple1.com")}},
		{name: "too wide", rcpt: "wide@exemple1.com", reply: "550 5.5.3 <wide@exemple1.com>: Recipient address rejected: alias expands to more than 1000 addresses"},
		{name: "wide but within limit", rcpt: "wide999@exemple1.com", want: wideWant(999)},
		{name: "bad alias target", rcpt: "broken@exemple1.com", reply: "451 4.3.0 <broken@exemple1.com>: Temporary lookup failure"},
		{name: "alias to unknown account", rcpt: "ghost@exemple1.com",
			reply: "550 5.1.1 <ghost@exemple1.com>: Recipient address rejected: User unknown in local recipient table"},

		// virtual_alias_maps.
		{name: "virtual alias", rcpt: "Sales@valias.example", want: []envelope.Recipient{local("toto", "toto@exemple1.com"), local("bob@vmail.example", "bob@vmail.example")}},
		{name: "virtual alias unknown", rcpt: "nobody@valias.example",
			reply: "550 5.1.1 <nobody@valias.example>: Recipient address rejected: User unknown in virtual alias table"},
		{name: "virtual alias unknown soft", mod: soft, rcpt: "nobody@valias.example",
			reply: "450 4.1.1 <nobody@valias.example>: Recipient address rejected: User unknown in virtual alias table"},
		{name: "virtual catch-all, bare name qualified", rcpt: "anyone@catchall.example", want: []envelope.Recipient{local("toto", "toto@exemple1.com")}},
		{name: "virtual exact extension first", rcpt: "jean+promo@valias.example", want: []envelope.Recipient{local("petit", "petit@exemple1.com")}},
		{name: "virtual extension propagated", rcpt: "jean+other@valias.example", want: []envelope.Recipient{remote("pascal+other@relay.example")}},
		{name: "virtual domain rewrite", rcpt: "bob@valias.example", want: []envelope.Recipient{local("bob@vmail.example", "bob@vmail.example")}},
		{name: "virtual alias to itself", rcpt: "petit@exemple2.com", want: []envelope.Recipient{local("petit", "petit@exemple2.com"), local("toto", "toto@exemple1.com")}},
		{name: "virtual loop", rcpt: "vl1@valias.example", reply: "550 5.4.6 <vl1@valias.example>: Recipient address rejected: mail forwarding loop"},
		{name: "virtual table error", rcpt: "tmp@valias.example", reply: "451 4.3.0 <tmp@valias.example>: Temporary lookup failure"},
		{name: "virtual alias does not open relay", client: stranger, rcpt: "remote@elsewhere.example", reply: "554 5.7.1 <remote@elsewhere.example>: Relay access denied"},
		{name: "virtual alias of foreign domain, trusted", client: flagged, rcpt: "remote@elsewhere.example", want: []envelope.Recipient{local("toto", "toto@exemple1.com")}},

		// virtual_mailbox_domains.
		{name: "virtual mailbox", rcpt: "Bob@vmail.example", want: []envelope.Recipient{local("bob@vmail.example", "bob@vmail.example")}},
		{name: "virtual mailbox extension", rcpt: "bob+tag@vmail.example", want: []envelope.Recipient{local("bob@vmail.example", "bob+tag@vmail.example")}},
		{name: "virtual mailbox unknown", rcpt: "nobody@vmail.example",
			reply: "550 5.1.1 <nobody@vmail.example>: Recipient address rejected: User unknown in virtual mailbox table"},

		// relay_domains and relay control.
		{name: "relay domain", client: stranger, rcpt: "someone@relay.example", want: []envelope.Recipient{remote("someone@relay.example")}},
		{name: "relay subdomain", client: stranger, rcpt: "someone@a.sub.relay.example", want: []envelope.Recipient{remote("someone@a.sub.relay.example")}},
		{name: "relay parent not a subdomain", client: stranger, rcpt: "someone@sub.relay.example", reply: "554 5.7.1 <someone@sub.relay.example>: Relay access denied"},
		{name: "relay denied", client: stranger, rcpt: "x@Other.example", reply: "554 5.7.1 <x@other.example>: Relay access denied"},
		{name: "relay denied soft", mod: soft, client: stranger, rcpt: "x@other.example", reply: "454 4.7.1 <x@other.example>: Relay access denied"},
		{name: "relay authenticated", client: authed, rcpt: "x@other.example", want: []envelope.Recipient{remote("x@other.example")}},
		{name: "relay mynetworks", client: inNets, rcpt: "x@other.example", want: []envelope.Recipient{remote("x@other.example")}},
		{name: "relay mynetworks mapped", client: inNets6, rcpt: "x@other.example", want: []envelope.Recipient{remote("x@other.example")}},
		{name: "relay client.Local", client: flagged, rcpt: "x@other.example", want: []envelope.Recipient{remote("x@other.example")}},
		{name: "relay local submission", client: nil, rcpt: "x@other.example", want: []envelope.Recipient{remote("x@other.example")}},
		{name: "relay without mynetworks", mod: func(c *Config) { c.MyNetworks = nil }, client: inNets, rcpt: "x@other.example",
			reply: "554 5.7.1 <x@other.example>: Relay access denied"},
		{name: "quoted local part kept", client: authed, rcpt: `"Pascal Petit"@foo.fr`, want: []envelope.Recipient{remote(`"Pascal Petit"@foo.fr`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.mod != nil {
				tt.mod(&cfg)
			}
			client := tt.client
			if client == nil && tt.name != "relay local submission" {
				client = stranger
			}
			rcpt, err := address.ParseForwardPath("<"+tt.rcpt+">", true)
			if err != nil {
				t.Fatalf("parsing %q: %v", tt.rcpt, err)
			}
			got, reply := New(cfg).Recipient(context.Background(), client, rcpt)
			gotReply := ""
			if reply != nil {
				gotReply = reply.Error()
			}
			if gotReply != tt.reply {
				t.Errorf("reply = %q, want %q", gotReply, tt.reply)
			}
			var gotRcpts []envelope.Recipient
			for _, r := range got {
				if r.Addr != rcpt.String() {
					t.Errorf("Addr = %q, want %q", r.Addr, rcpt.String())
				}
				r.Addr = ""
				gotRcpts = append(gotRcpts, *r)
			}
			if diff := cmp.Diff(tt.want, gotRcpts); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientTrusted(t *testing.T) {
	p := New(testConfig())
	tests := []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", true},
		{"::ffff:192.0.2.1", true},
		{"203.0.113.1", false},
		{"2001:db8::1", false},
	}
	for _, tt := range tests {
		if got := p.ClientTrusted(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("ClientTrusted(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if p.ClientTrusted(netip.Addr{}) {
		t.Error("ClientTrusted(zero) = true, want false")
	}
}
