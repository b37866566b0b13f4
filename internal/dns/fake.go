package dns

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fake is an in-memory Resolver for tests: records in maps, failures and
// slowness on demand, and a record of the queries made. Names match
// without regard to case or a final dot. Fill the fields before the first
// lookup; Fake is then safe for concurrent use. It never touches the
// network.
type Fake struct {
	PTR map[netip.Addr][]string
	IP  map[string][]netip.Addr
	MX  map[string][]*net.MX
	TXT map[string][]string

	// Errors makes the lookups it names fail. The error is returned inside
	// an *Error: not found when errors.Is(err, ErrNotFound), temporary
	// otherwise; a nil error is no failure. A name with no record is not
	// found without an entry here.
	Errors map[Query]error

	// Delay makes every lookup wait this long first; a lookup whose
	// context ends sooner fails as temporary, wrapping the context's error.
	Delay time.Duration

	mu      sync.Mutex
	queries []Query
}

// Query is one lookup: its type and its name, lower case without a final
// dot (for PTR, the address as netip.Addr.String writes it).
type Query struct {
	Type Type
	Name string
}

// Queries returns the lookups made so far, in order.
func (f *Fake) Queries() []Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

func normalize(name string) string { return strings.ToLower(trimDot(name)) }

// begin records q, waits Delay and returns the injected error, if any.
func (f *Fake) begin(ctx context.Context, q Query) error {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return classify(q.Type, q.Name, ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return classify(q.Type, q.Name, err)
	}
	for k, err := range f.Errors {
		if err != nil && k.Type == q.Type && normalize(k.Name) == q.Name {
			return &Error{Type: q.Type, Name: q.Name, NotFound: errors.Is(err, ErrNotFound), Err: err}
		}
	}
	return nil
}

// find returns the entry of m whose key is name, in any case and with or
// without a final dot.
func find[V any](m map[string][]V, name string) []V {
	for k, v := range m {
		if normalize(k) == name {
			return v
		}
	}
	return nil
}

// answer returns a copy of v, or ErrNotFound when it is empty.
func answer[V any](q Query, v []V) ([]V, error) {
	if len(v) == 0 {
		return nil, notFound(q.Type, q.Name)
	}
	return slices.Clone(v), nil
}

// LookupAddr implements Resolver.
func (f *Fake) LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error) {
	q := Query{TypePTR, addr.Unmap().String()}
	if err := f.begin(ctx, q); err != nil {
		return nil, err
	}
	names := slices.Clone(f.PTR[addr.Unmap()])
	for i, n := range names {
		names[i] = trimDot(n)
	}
	return answer(q, names)
}

// LookupIP implements Resolver. An address literal is its own answer.
func (f *Fake) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	q := Query{TypeIP, normalize(host)}
	if err := f.begin(ctx, q); err != nil {
		return nil, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := answer(q, find(f.IP, q.Name))
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, err
}

// LookupMX implements Resolver: records sorted by preference.
func (f *Fake) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	q := Query{TypeMX, normalize(domain)}
	if err := f.begin(ctx, q); err != nil {
		return nil, err
	}
	var mxs []*net.MX
	for _, mx := range find(f.MX, q.Name) {
		mxs = append(mxs, &net.MX{Host: trimDot(mx.Host), Pref: mx.Pref})
	}
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return answer(q, mxs)
}

// LookupTXT implements Resolver.
func (f *Fake) LookupTXT(ctx context.Context, name string) ([]string, error) {
	q := Query{TypeTXT, normalize(name)}
	if err := f.begin(ctx, q); err != nil {
		return nil, err
	}
	return answer(q, find(f.TXT, q.Name))
}
