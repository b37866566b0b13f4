package sasl

import (
	"errors"
	"strings"
	"testing"
)

// step is one response and what the server must answer to it.
type step struct {
	resp      []byte // nil: no initial response
	challenge string
	done      bool
	err       error
}

func TestExchanges(t *testing.T) {
	tests := []struct {
		name  string
		mech  string
		steps []step
		want  Credentials
	}{
		{"plain initial", "PLAIN", []step{{resp: []byte("\x00toto\x00secret"), done: true}}, Credentials{"toto", "secret"}},
		{"plain lower-case name", "plain", []step{{resp: []byte("\x00toto\x00secret"), done: true}}, Credentials{"toto", "secret"}},
		{"plain after empty challenge", "PLAIN", []step{{resp: nil, challenge: ""}, {resp: []byte("\x00toto\x00s"), done: true}}, Credentials{"toto", "s"}},
		{"plain same authzid", "PLAIN", []step{{resp: []byte("toto\x00toto\x00s"), done: true}}, Credentials{"toto", "s"}},
		{"plain empty password", "PLAIN", []step{{resp: []byte("\x00toto\x00"), done: true}}, Credentials{"toto", ""}},
		{"plain other authzid", "PLAIN", []step{{resp: []byte("admin\x00toto\x00s"), err: ErrAuthzid}}, Credentials{"toto", "s"}},
		{"plain two fields", "PLAIN", []step{{resp: []byte("toto\x00s"), err: ErrMalformed}}, Credentials{}},
		{"plain four fields", "PLAIN", []step{{resp: []byte("\x00toto\x00s\x00x"), err: ErrMalformed}}, Credentials{}},
		{"plain empty user", "PLAIN", []step{{resp: []byte("\x00\x00s"), err: ErrMalformed}}, Credentials{}},
		{"plain empty response", "PLAIN", []step{{resp: []byte{}, err: ErrMalformed}}, Credentials{}},
		{"plain bad utf-8", "PLAIN", []step{{resp: []byte("\x00to\xffto\x00s"), err: ErrMalformed}}, Credentials{}},
		{"plain long field", "PLAIN", []step{{resp: []byte("\x00" + strings.Repeat("a", 256) + "\x00s"), err: ErrMalformed}}, Credentials{}},
		{"login", "LOGIN", []step{{resp: nil, challenge: "Username:"}, {resp: []byte("toto"), challenge: "Password:"}, {resp: []byte("secret"), done: true}}, Credentials{"toto", "secret"}},
		{"login initial", "LOGIN", []step{{resp: []byte("toto"), challenge: "Password:"}, {resp: []byte("secret"), done: true}}, Credentials{"toto", "secret"}},
		{"login empty user", "LOGIN", []step{{resp: nil, challenge: "Username:"}, {resp: []byte{}, err: ErrMalformed}}, Credentials{}},
		{"login NUL", "LOGIN", []step{{resp: []byte("to\x00to"), err: ErrMalformed}}, Credentials{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(tt.mech)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				ch, done, err := s.Next(st.resp)
				if !errors.Is(err, st.err) || done != st.done {
					t.Fatalf("step %d: done %v, err %v; want %v, %v", i, done, err, st.done, st.err)
				}
				if err == nil && !done && string(ch) != st.challenge {
					t.Fatalf("step %d: challenge %q, want %q", i, ch, st.challenge)
				}
			}
			if got := s.Credentials(); got != tt.want {
				t.Errorf("credentials %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnknownMechanism(t *testing.T) {
	for _, m := range []string{"CRAM-MD5", "", "PLAINX", "XOAUTH2"} {
		if _, err := NewServer(m); !errors.Is(err, ErrUnknownMechanism) {
			t.Errorf("NewServer(%q) = %v, want ErrUnknownMechanism", m, err)
		}
	}
}

// FuzzPlain feeds PLAIN and LOGIN arbitrary responses: no panic, and a
// PLAIN success always has a non-empty user name.
func FuzzPlain(f *testing.F) {
	f.Add([]byte("\x00toto\x00secret"))
	f.Add([]byte("a\x00b\x00c"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, resp []byte) {
		p, _ := NewServer(Plain)
		if _, done, err := p.Next(resp); done && (err != nil || p.Credentials().Username == "") {
			t.Fatalf("PLAIN %q: done with %+v, %v", resp, p.Credentials(), err)
		}
		l, _ := NewServer(Login)
		l.Next(resp)
		l.Next(resp)
	})
}
