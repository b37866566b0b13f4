package smtpd

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"

	"facteur/internal/address"
	"facteur/internal/envelope"
	"facteur/internal/smtp"
)

// fakePolicy decides by the local part: unknown@ and relay@ are refused,
// alias@ expands to two recipients, panic@ panics.
type fakePolicy struct{ trusted bool }

func (p *fakePolicy) ClientTrusted(netip.Addr) bool { return p.trusted }

func (p *fakePolicy) Recipient(_ context.Context, _ *envelope.Client, a address.Address) ([]*envelope.Recipient, *smtp.Reply) {
	switch a.Local {
	case "unknown":
		return nil, smtp.NewReply(550, "5.1.1", "<"+a.String()+">: Recipient address rejected: User unknown in local recipient table")
	case "relay":
		return nil, smtp.NewReply(554, "5.7.1", "<"+a.String()+">: Relay access denied")
	case "panic":
		panic("policy exploded")
	case "alias":
		return []*envelope.Recipient{
			{Addr: a.String(), Transport: envelope.TransportLocal, Dest: "one", Final: "one@" + a.Domain},
			{Addr: a.String(), Transport: envelope.TransportLocal, Dest: "two", Final: "two@" + a.Domain},
		}, nil
	}
	return []*envelope.Recipient{{Addr: a.String(), Transport: envelope.TransportLocal, Dest: a.Local, Final: a.String()}}, nil
}

func (p *fakePolicy) Verify(_ context.Context, _ *envelope.Client, arg string) *smtp.Reply {
	if strings.HasPrefix(arg, "known") {
		return smtp.NewReply(250, "2.0.0", "<"+arg+">")
	}
	return nil
}

func (p *fakePolicy) Expand(_ context.Context, _ *envelope.Client, arg string) *smtp.Reply {
	if arg == "list" {
		return &smtp.Reply{Code: 250, Enhanced: "2.0.0", Lines: []string{"<one@example.org>", "<two@example.org>"}}
	}
	return smtp.NewReply(550, "5.1.1", "<"+arg+">: no such list")
}

// fakeSink keeps committed messages. The sender's local part picks a
// failure: beginfail@, writefail@, hops@ (a reply at commit), ioerr@.
type fakeSink struct {
	noSpace bool

	mu        sync.Mutex
	seq       int
	committed []*fakeMessage
	aborted   int
	open      int // begun, neither committed nor aborted
}

func (s *fakeSink) SpaceOK() bool { return !s.noSpace }

func (s *fakeSink) Begin(_ context.Context, env *envelope.Envelope) (Message, error) {
	local, _, _ := strings.Cut(env.Sender, "@")
	if local == "beginfail" {
		return nil, errors.New("queue directory gone")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.open++
	return &fakeMessage{sink: s, env: env, id: "QID" + string(rune('A'+s.seq%26)) + strings.Repeat("0", 3), mode: local}, nil
}

func (s *fakeSink) last() *fakeMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.committed) == 0 {
		return nil
	}
	return s.committed[len(s.committed)-1]
}

type fakeMessage struct {
	sink *fakeSink
	env  *envelope.Envelope
	id   string
	mode string
	data bytes.Buffer
	done bool
}

func (m *fakeMessage) ID() string { return m.id }

func (m *fakeMessage) Write(p []byte) (int, error) {
	if m.mode == "writefail" {
		return 0, errors.New("disk full")
	}
	return m.data.Write(p)
}

func (m *fakeMessage) Commit(context.Context) error {
	switch m.mode {
	case "hops":
		return smtp.NewReply(554, "5.4.6", "Too many hops")
	case "ioerr":
		return errors.New("fsync failed")
	}
	m.sink.mu.Lock()
	defer m.sink.mu.Unlock()
	if m.done {
		panic("commit after end")
	}
	m.done = true
	m.sink.open--
	m.sink.committed = append(m.sink.committed, m)
	return nil
}

func (m *fakeMessage) Abort() {
	m.sink.mu.Lock()
	defer m.sink.mu.Unlock()
	if m.done {
		return
	}
	m.done = true
	m.sink.open--
	m.sink.aborted++
}

// fakeAuth knows toto with password "secret" and counts its calls.
type fakeAuth struct {
	mu    sync.Mutex
	calls int
	fail  bool // every call errs
}

func (a *fakeAuth) Authenticate(_ context.Context, name, password string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.fail {
		return false, errors.New("store closed")
	}
	return name == "toto" && password == "secret", nil
}

func (a *fakeAuth) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// fakeSenders lets an account use the addresses whose local part is its
// name.
type fakeSenders struct{}

func (fakeSenders) SenderOwned(_ context.Context, c *envelope.Client, sender string) *smtp.Reply {
	if local, _, _ := strings.Cut(sender, "@"); local == c.AuthUser {
		return nil
	}
	return smtp.NewReply(553, "5.7.1", "<"+sender+">: Sender address rejected: not owned by user "+c.AuthUser)
}
