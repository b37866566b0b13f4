package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"facteur/internal/safeio"
)

// The self-signed pair's files under Options.Dir.
const (
	SelfSignedCertFile = "cert.pem" // 0644
	SelfSignedKeyFile  = "key.pem"  // 0600
)

const (
	// selfSignedLifetime is long because nobody verifies a self-signed
	// certificate against a CA (SMTP's opportunistic TLS does not), so an
	// expiry would only cause work; an expired pair is made again anyway.
	selfSignedLifetime = 10 * 365 * 24 * time.Hour
	// selfSignedRenew is how long before its expiry the pair is made again.
	selfSignedRenew = 30 * 24 * time.Hour
	// clockSkew back-dates NotBefore, for clients whose clock is behind.
	clockSkew = time.Hour
)

// selfSigned loads the self-signed pair under Dir, or makes it when it is
// missing, unreadable, expiring or for another hostname.
func (c *Certs) selfSigned() (*pair, error) {
	o := c.opt
	host := strings.TrimSuffix(strings.ToLower(o.Hostname), ".")
	if host == "" {
		return nil, errors.New("self-signed certificate: myhostname is empty")
	}
	if o.Dir == "" {
		return nil, errors.New("self-signed certificate: no directory for it")
	}
	certPath := filepath.Join(o.Dir, SelfSignedCertFile)
	keyPath := filepath.Join(o.Dir, SelfSignedKeyFile)
	cert, why := c.loadSelfSigned(certPath, keyPath, host)
	if cert != nil {
		return &pair{cert: cert, selfSigned: true}, nil
	}
	cert, err := makeSelfSigned(host, o.Now())
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate for %s: %w", host, err)
	}
	if err := writeSelfSigned(o.Dir, certPath, keyPath, cert); err != nil {
		return nil, fmt.Errorf("self-signed certificate in %s: %w", o.Dir, err)
	}
	msg := fmt.Sprintf("made a self-signed certificate for %s in %s, valid until %s", host, o.Dir, cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
	if why != "" {
		msg += " (the previous one " + why + ")"
	}
	o.Log.Event("", "%s", msg)
	return &pair{cert: cert, selfSigned: true}, nil
}

// loadSelfSigned returns the pair under Dir when it can be used as it is;
// otherwise nil and why not ("" when there is none).
func (c *Certs) loadSelfSigned(certPath, keyPath, host string) (*tls.Certificate, string) {
	cert, err := readPair(certPath, keyPath, false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ""
		}
		return nil, "could not be used: " + err.Error()
	}
	now := c.opt.Now()
	switch leaf := cert.Leaf; {
	case !namesHost(leaf, host):
		return nil, "was for " + strings.Join(append(leaf.DNSNames, ipStrings(leaf)...), ", ")
	case now.After(leaf.NotAfter.Add(-selfSignedRenew)):
		return nil, "expires on " + leaf.NotAfter.UTC().Format(time.DateOnly)
	case now.Before(leaf.NotBefore):
		return nil, "is not valid before " + leaf.NotBefore.UTC().Format(time.DateOnly)
	}
	return cert, ""
}

// namesHost reports whether leaf names host and nothing else.
func namesHost(leaf *x509.Certificate, host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 1 && leaf.IPAddresses[0].Equal(ip.AsSlice())
	}
	return len(leaf.IPAddresses) == 0 && len(leaf.DNSNames) == 1 && strings.EqualFold(leaf.DNSNames[0], host)
}

func ipStrings(leaf *x509.Certificate) []string {
	var s []string
	for _, ip := range leaf.IPAddresses {
		s = append(s, ip.String())
	}
	return s
}

// makeSelfSigned makes an ECDSA P-256 certificate for host, valid for
// selfSignedLifetime from now, for server authentication.
func makeSelfSigned(host string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	// RFC 5280 §4.1.2.2: a positive serial of at most 20 octets.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the new certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// writeSelfSigned writes the pair durably: Dir 0700, the key 0600 first,
// then the certificate 0644. A crash between the two leaves a mismatched
// pair, which the next start makes again.
func writeSelfSigned(dir, certPath, keyPath string, cert *tls.Certificate) error {
	if err := safeio.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("encoding key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := safeio.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	return safeio.WriteFile(certPath, certPEM, 0o644)
}
