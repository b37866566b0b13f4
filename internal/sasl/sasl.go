// Package sasl implements the server side of the SASL mechanisms that
// facteur offers to mail clients: PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login-00). SMTP's AUTH (RFC 4954) uses it, and
// POP3's AUTH (RFC 5034) and IMAP's AUTHENTICATE (RFC 9051 §6.2.2) will.
//
// A mechanism only decodes the exchange into credentials; checking them is
// the caller's job, and so is the protocol's base64 framing.
package sasl

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"
)

// Mechanism names, as clients send them (compared without case).
const (
	Plain = "PLAIN"
	Login = "LOGIN"
)

// Mechanisms lists what NewServer knows, in the order servers announce them.
var Mechanisms = []string{Plain, Login}

// Errors of an exchange.
var (
	// ErrUnknownMechanism: NewServer does not know the name.
	ErrUnknownMechanism = errors.New("sasl: unknown mechanism")
	// ErrMalformed: a response that the mechanism cannot decode.
	ErrMalformed = errors.New("sasl: malformed response")
	// ErrAuthzid: the client asked to act as another identity, which
	// facteur does not allow.
	ErrAuthzid = errors.New("sasl: authorization identity differs from the user name")
)

// Credentials are what the client sent.
type Credentials struct {
	Username, Password string
}

// Server is one server-side exchange. Next takes the client's response
// (nil when the client gave no initial response) and returns the next
// challenge, or done with the credentials. After an error or done, the
// exchange is over.
type Server interface {
	Next(response []byte) (challenge []byte, done bool, err error)
	Credentials() Credentials
}

// NewServer starts an exchange of the named mechanism.
func NewServer(mechanism string) (Server, error) {
	switch strings.ToUpper(mechanism) {
	case Plain:
		return &plain{}, nil
	case Login:
		return &login{}, nil
	}
	return nil, ErrUnknownMechanism
}

// plain is RFC 4616: one message, [authzid] NUL authcid NUL passwd.
type plain struct{ cred Credentials }

// maxField is RFC 4616 §2's bound on each field: 255 octets.
const maxField = 255

func (p *plain) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		// RFC 4422 §5: without an initial response the server sends an
		// empty challenge.
		return []byte{}, false, nil
	}
	f := bytes.Split(resp, []byte{0})
	if len(f) != 3 || len(f[1]) == 0 || len(f[0]) > maxField || len(f[1]) > maxField || len(f[2]) > maxField {
		return nil, false, ErrMalformed
	}
	authz, user, pass := string(f[0]), string(f[1]), string(f[2])
	if !validUTF8NoNUL(authz) || !validUTF8NoNUL(user) || !validUTF8NoNUL(pass) {
		return nil, false, ErrMalformed
	}
	p.cred = Credentials{Username: user, Password: pass}
	if authz != "" && authz != user {
		return nil, false, ErrAuthzid
	}
	return nil, true, nil
}

func (p *plain) Credentials() Credentials { return p.cred }

// login is the LOGIN mechanism: the server asks "Username:" then
// "Password:", and the client answers each. An initial response is the
// user name (RFC 4954 §4 lets a client send it with AUTH).
type login struct {
	cred Credentials
	step int // 0: before the user name, 1: before the password
}

// maxLoginField bounds each response; the protocol's own line limit comes
// first in practice.
const maxLoginField = 1024

func (l *login) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil && l.step == 0 {
		return []byte("Username:"), false, nil
	}
	if len(resp) > maxLoginField || !validUTF8NoNUL(string(resp)) {
		return nil, false, ErrMalformed
	}
	switch l.step {
	case 0:
		if len(resp) == 0 {
			return nil, false, ErrMalformed
		}
		l.cred.Username = string(resp)
		l.step = 1
		return []byte("Password:"), false, nil
	default:
		l.cred.Password = string(resp)
		return nil, true, nil
	}
}

func (l *login) Credentials() Credentials { return l.cred }

// validUTF8NoNUL reports text that RFC 4616 §2 allows in a field: UTF-8
// without NUL.
func validUTF8NoNUL(s string) bool {
	return !strings.ContainsRune(s, 0) && utf8.ValidString(s)
}
