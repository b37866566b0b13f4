// Package tlsconf owns facteur's TLS server settings and its certificate:
// the pair named by smtpd_tls_cert_file and smtpd_tls_key_file, or a
// self-signed one made on first start under data_directory, reloadable
// without dropping sessions. SMTP's STARTTLS (RFC 3207) and implicit TLS on
// submissions (RFC 8314) use it, and POP3 and IMAP will.
//
// Servers accept TLS 1.2 (RFC 5246) and TLS 1.3 (RFC 8446) only: RFC 8996
// deprecates TLS 1.0 and 1.1, and RFC 8314 §4.1 asks for TLS 1.2 or later.
// Describe and ReceivedComment name the negotiated version and cipher for
// the envelope and for the Received field, in Postfix's words and with
// OpenSSL's cipher names, as operators read them in Postfix's logs.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"facteur/internal/maillog"
)

// Options says where the certificate comes from.
type Options struct {
	// CertFile and KeyFile are smtpd_tls_cert_file and smtpd_tls_key_file:
	// PEM, the server's certificate first and its chain after it. An empty
	// KeyFile reads the key from CertFile, as Postfix does. Both empty: a
	// self-signed certificate under Dir.
	CertFile, KeyFile string
	// Dir holds the self-signed pair (data_directory/tls); made 0700.
	Dir string
	// Hostname is myhostname: the self-signed certificate's subject and
	// its one DNS name.
	Hostname string
	// Log receives the line that says a self-signed certificate was made,
	// and warnings (an expired certificate). Nil discards.
	Log *maillog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Certs holds the current certificate. It is safe for concurrent use: a
// Reload is seen by the next handshake, and sessions already running keep
// the keys they negotiated.
type Certs struct {
	opt    Options
	reload sync.Mutex // one Reload at a time
	cur    atomic.Pointer[pair]
}

// pair is one loaded certificate with its key and chain.
type pair struct {
	cert       *tls.Certificate // Leaf set
	selfSigned bool
}

// Load reads the configured pair, or loads (making it when it is missing,
// unreadable, expired or for another hostname) the self-signed pair under
// opt.Dir. A configured certificate that has expired or is not yet valid
// is loaded with a warning in the log: refusing to start would stop mail
// that opportunistic TLS would still protect.
func Load(opt Options) (*Certs, error) {
	if opt.Log == nil {
		opt.Log = maillog.New(nil)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Certs{opt: opt}
	p, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cur.Store(p)
	return c, nil
}

// Reload reads the certificate again, as Load did. On failure the current
// certificate stays in use and the error says what is wrong.
func (c *Certs) Reload() error {
	c.reload.Lock()
	defer c.reload.Unlock()
	p, err := c.load()
	if err != nil {
		return err
	}
	c.cur.Store(p)
	return nil
}

func (c *Certs) load() (*pair, error) {
	o := c.opt
	switch {
	case o.CertFile == "" && o.KeyFile == "":
		return c.selfSigned()
	case o.CertFile == "":
		return nil, errors.New("smtpd_tls_key_file is set but smtpd_tls_cert_file is empty")
	}
	cert, err := readPair(o.CertFile, o.KeyFile, true)
	if err != nil {
		return nil, err
	}
	c.checkValidity(cert.Leaf)
	return &pair{cert: cert}, nil
}

// checkValidity warns about a configured certificate outside its validity
// period.
func (c *Certs) checkValidity(leaf *x509.Certificate) {
	now := c.opt.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.opt.Log.Warn("smtpd_tls_cert_file %s: certificate expired on %s", c.opt.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		c.opt.Log.Warn("smtpd_tls_cert_file %s: certificate is not valid before %s", c.opt.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
}

// Config returns a server configuration that serves the current
// certificate at each handshake. Each call returns a new Config, which the
// caller may change (ClientAuth, NextProtos).
func (c *Certs) Config() *tls.Config {
	return &tls.Config{
		// RFC 8996: no TLS 1.0 or 1.1. Go's default cipher suites for
		// TLS 1.2 are ECDHE with AEAD or CBC; TLS 1.3 suites are fixed.
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load().cert, nil
		},
	}
}

// SelfSigned reports whether the current certificate is facteur's own
// self-signed one.
func (c *Certs) SelfSigned() bool { return c.cur.Load().selfSigned }

// Leaf returns the current server certificate (the first of the chain).
func (c *Certs) Leaf() *x509.Certificate { return c.cur.Load().cert.Leaf }

// fileError names the parameter (if any) and the file in an error:
// "smtpd_tls_key_file /x: key does not match certificate".
func fileError(param, path string, err error) error {
	if param == "" {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fmt.Errorf("%s %s: %w", param, path, err)
}
