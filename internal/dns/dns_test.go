package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		notFound bool
	}{
		{"nxdomain", &net.DNSError{Err: "no such host", Name: "x.example", IsNotFound: true}, true},
		{"timeout", &net.DNSError{Err: "i/o timeout", Name: "x.example", IsTimeout: true}, false},
		{"servfail", &net.DNSError{Err: "server misbehaving", Name: "x.example", IsTemporary: true}, false},
		{"unclassified", &net.DNSError{Err: "server misbehaving", Name: "x.example"}, false},
		{"not found but temporary", &net.DNSError{Err: "odd", IsNotFound: true, IsTemporary: true}, false},
		{"wrapped nxdomain", fmt.Errorf("looking up: %w", &net.DNSError{Err: "no such host", IsNotFound: true}), true},
		{"deadline", context.DeadlineExceeded, false},
		{"canceled", context.Canceled, false},
		{"other", io.ErrUnexpectedEOF, false},
		{"already classified", &Error{Type: TypeMX, Name: "y.example", NotFound: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(TypeMX, "x.example", tt.err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("classify = %T %v, want *Error", err, err)
			}
			if got := errors.Is(err, ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v (%v)", got, tt.notFound, err)
			}
			if got := errors.Is(err, ErrTemporary); got == tt.notFound {
				t.Errorf("errors.Is(ErrTemporary) = %v, want %v (%v)", got, !tt.notFound, err)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the cause %v is lost in %v", tt.err, err)
			}
		})
	}
	if classify(TypeTXT, "x", nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Type: TypeMX, Name: "example.org", NotFound: true}, "dns: MX lookup of example.org: not found"},
		{&Error{Type: TypeMX, Name: "example.org", NotFound: true, Err: ErrNotFound}, "dns: MX lookup of example.org: not found"},
		{&Error{Type: TypeIP, Name: "a.example", Err: context.DeadlineExceeded},
			"dns: A/AAAA lookup of a.example: temporary failure: context deadline exceeded"},
		{&Error{Type: TypePTR, Name: "192.0.2.1"}, "dns: PTR lookup of 192.0.2.1: temporary failure"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestWithPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.53:5353", "192.0.2.53:5353"},
		{"192.0.2.53", "192.0.2.53:53"},
		{"[2001:db8::53]:53", "[2001:db8::53]:53"},
		{"2001:db8::53", "[2001:db8::53]:53"},
		{"[2001:db8::53]", "[2001:db8::53]:53"},
		{"ns.example", "ns.example:53"},
	}
	for _, tt := range tests {
		if got := withPort(tt.in); got != tt.want {
			t.Errorf("withPort(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
