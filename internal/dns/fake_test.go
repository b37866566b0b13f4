package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newFake() *Fake {
	return &Fake{
		PTR: map[netip.Addr][]string{
			netip.MustParseAddr("192.0.2.1"):   {"mail.example.org."},
			netip.MustParseAddr("2001:db8::1"): {"mail.example.org", "alias.example.org."},
		},
		IP: map[string][]netip.Addr{
			"Mail.Example.ORG.": {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
			"mapped.example":    {netip.MustParseAddr("::ffff:192.0.2.9")},
		},
		MX: map[string][]*net.MX{
			"example.org":  {{Host: "mx2.example.org.", Pref: 20}, {Host: "mx1.example.org", Pref: 10}},
			"null.example": {{Host: ".", Pref: 0}},
		},
		TXT: map[string][]string{
			"example.org": {"v=spf1 mx -all"},
		},
		Errors: map[Query]error{
			{TypeMX, "broken.example"}:   errors.New("SERVFAIL"),
			{TypeTXT, "gone.example."}:   ErrNotFound,
			{TypeIP, "MAIL.example.org"}: nil, // a nil entry is no failure
		},
	}
}

func TestFake(t *testing.T) {
	f := newFake()
	ctx := context.Background()
	tests := []struct {
		name     string
		lookup   func() (any, error)
		want     any
		notFound bool // when want is nil: the kind of error
	}{
		{"PTR", func() (any, error) { return f.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1")) },
			[]string{"mail.example.org"}, false},
		{"PTR several", func() (any, error) { return f.LookupAddr(ctx, netip.MustParseAddr("2001:db8::1")) },
			[]string{"mail.example.org", "alias.example.org"}, false},
		{"PTR of mapped address", func() (any, error) { return f.LookupAddr(ctx, netip.MustParseAddr("::ffff:192.0.2.1")) },
			[]string{"mail.example.org"}, false},
		{"PTR missing", func() (any, error) { return f.LookupAddr(ctx, netip.MustParseAddr("192.0.2.2")) }, nil, true},
		{"IP any case", func() (any, error) { return f.LookupIP(ctx, "mail.example.org") },
			[]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}, false},
		{"IP unmapped", func() (any, error) { return f.LookupIP(ctx, "mapped.example") },
			[]netip.Addr{netip.MustParseAddr("192.0.2.9")}, false},
		{"IP literal", func() (any, error) { return f.LookupIP(ctx, "2001:db8::7") },
			[]netip.Addr{netip.MustParseAddr("2001:db8::7")}, false},
		{"IP missing", func() (any, error) { return f.LookupIP(ctx, "nowhere.example") }, nil, true},
		{"MX sorted", func() (any, error) { return f.LookupMX(ctx, "EXAMPLE.org.") },
			[]*net.MX{{Host: "mx1.example.org", Pref: 10}, {Host: "mx2.example.org", Pref: 20}}, false},
		{"null MX", func() (any, error) { return f.LookupMX(ctx, "null.example") },
			[]*net.MX{{Host: ".", Pref: 0}}, false},
		{"MX injected failure", func() (any, error) { return f.LookupMX(ctx, "broken.example") }, nil, false},
		{"MX missing", func() (any, error) { return f.LookupMX(ctx, "example.net") }, nil, true},
		{"TXT", func() (any, error) { return f.LookupTXT(ctx, "example.org") }, []string{"v=spf1 mx -all"}, false},
		{"TXT injected not found", func() (any, error) { return f.LookupTXT(ctx, "gone.example") }, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if tt.want != nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			if errors.Is(err, ErrNotFound) != tt.notFound || errors.Is(err, ErrTemporary) == tt.notFound {
				t.Errorf("error %v: not found %v, temporary %v; want not found %v",
					err, errors.Is(err, ErrNotFound), errors.Is(err, ErrTemporary), tt.notFound)
			}
		})
	}
}

func TestFakeQueries(t *testing.T) {
	f := newFake()
	ctx := context.Background()
	f.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1"))
	f.LookupIP(ctx, "Mail.Example.org.")
	f.LookupMX(ctx, "example.org")
	f.LookupTXT(ctx, "example.org")
	want := []Query{
		{TypePTR, "192.0.2.1"}, {TypeIP, "mail.example.org"}, {TypeMX, "example.org"}, {TypeTXT, "example.org"},
	}
	if diff := cmp.Diff(want, f.Queries()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

// TestFakeCopies checks that a caller changing an answer does not change
// the next one.
func TestFakeCopies(t *testing.T) {
	f := newFake()
	ctx := context.Background()
	mxs, _ := f.LookupMX(ctx, "example.org")
	mxs[0].Host = "changed"
	names, _ := f.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1"))
	names[0] = "changed"
	mxs, _ = f.LookupMX(ctx, "example.org")
	names, _ = f.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1"))
	if mxs[0].Host != "mx1.example.org" || names[0] != "mail.example.org" {
		t.Errorf("answers changed by the caller: %v, %v", mxs[0].Host, names)
	}
}

// TestFakeDelay checks that a lookup slower than its context fails as
// temporary, and that a canceled context fails at once even with no delay.
func TestFakeDelay(t *testing.T) {
	f := newFake()
	f.Delay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := f.LookupIP(ctx, "mail.example.org")
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow lookup: %v, want a temporary failure from the deadline", err)
	}

	f = newFake()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := f.LookupMX(ctx, "example.org"); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTemporary) {
		t.Errorf("canceled lookup: %v", err)
	}
}
