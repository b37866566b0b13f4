package tlsconf

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestSelfSignedMadeOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tls")
	log, rec := logger()
	opt := Options{Dir: dir, Hostname: "Mail.Example.org.", Log: log}
	c1 := mustLoad(t, opt)
	if !c1.SelfSigned() {
		t.Error("SelfSigned() = false for the made certificate")
	}
	if got := rec.matching("made a self-signed certificate for mail.example.org in " + dir); len(got) != 1 {
		t.Errorf("log lines %q; want one that says the certificate was made", rec.lines)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {filepath.Join(dir, SelfSignedKeyFile), 0o600}, {filepath.Join(dir, SelfSignedCertFile), 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil || fi.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, %v; want %v", f.path, fi.Mode().Perm(), err, f.mode)
		}
	}
	leaf := c1.Leaf()
	if leaf.PublicKeyAlgorithm != x509.ECDSA || leaf.Subject.CommonName != "mail.example.org" {
		t.Errorf("made %v key for %q; want ECDSA for mail.example.org", leaf.PublicKeyAlgorithm, leaf.Subject.CommonName)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 9*365*24*time.Hour {
		t.Errorf("lifetime %v; want about ten years", life)
	}

	c2 := mustLoad(t, opt)
	if c2.Leaf().SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("second Load made serial %v; want the first's %v", c2.Leaf().SerialNumber, leaf.SerialNumber)
	}
	if got := rec.matching("made a self-signed"); len(got) != 1 {
		t.Errorf("second Load logged %q", got)
	}

	// A client that trusts the certificate verifies it for the hostname.
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	cc, err := handshake(t, c2.Config(), &tls.Config{RootCAs: roots, ServerName: "mail.example.org"})
	if err != nil {
		t.Fatalf("handshake with a client that trusts the certificate: %v", err)
	}
	if peerSerial(t, cc).Cmp(leaf.SerialNumber) != 0 {
		t.Error("the server presented another certificate")
	}
}

func TestSelfSignedRemade(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		spoil   func(t *testing.T, dir string)
		host    string
		now     time.Time
		wantWhy string
	}{
		{name: "another hostname", host: "other.example", wantWhy: "was for mail.example.org"},
		{name: "key missing", spoil: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, SelfSignedKeyFile))
		}},
		{name: "certificate unreadable", spoil: func(t *testing.T, dir string) {
			writeFile(t, dir, SelfSignedCertFile, []byte("not PEM\n"))
		}, wantWhy: SelfSignedCertFile + ": no PEM certificate found"},
		{name: "key of another pair", spoil: func(t *testing.T, dir string) {
			writeFile(t, dir, SelfSignedKeyFile, keyPEM(t, issue(t, leafTemplate("x"), nil, nil).key))
		}, wantWhy: "key does not match certificate"},
		{name: "expiring", now: t0.Add(selfSignedLifetime - 10*24*time.Hour), wantWhy: "expires on"},
		{name: "clock went back", now: t0.Add(-48 * time.Hour), wantWhy: "is not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log, rec := logger()
			opt := Options{Dir: dir, Hostname: "mail.example.org", Log: log, Now: func() time.Time { return t0 }}
			first := mustLoad(t, opt).Leaf()
			if tt.spoil != nil {
				tt.spoil(t, dir)
			}
			if tt.host != "" {
				opt.Hostname = tt.host
			}
			if !tt.now.IsZero() {
				opt.Now = func() time.Time { return tt.now }
			}
			second := mustLoad(t, opt).Leaf()
			if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
				t.Fatal("the certificate was not made again")
			}
			if host := opt.Hostname; len(second.DNSNames) != 1 || second.DNSNames[0] != host {
				t.Errorf("new certificate names %q; want [%s]", second.DNSNames, host)
			}
			if lines := rec.matching("made a self-signed"); len(lines) != 2 {
				t.Errorf("log %q; want two lines that say it was made", rec.lines)
			} else if got := rec.matching(tt.wantWhy); tt.wantWhy != "" && len(got) != 1 {
				t.Errorf("log %q; want the reason %q", rec.lines, tt.wantWhy)
			}
			third := mustLoad(t, opt).Leaf()
			if third.SerialNumber.Cmp(second.SerialNumber) != 0 {
				t.Error("the new certificate was not reused")
			}
		})
	}
}

func TestSelfSignedIPHostname(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir(), Hostname: "192.0.2.7"})
	leaf := c.Leaf()
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "192.0.2.7" || len(leaf.DNSNames) != 0 {
		t.Errorf("certificate names %v %v; want the IP address only", leaf.DNSNames, leaf.IPAddresses)
	}
}

func TestSelfSignedErrors(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	writeFile(t, filepath.Dir(blocker), "file", []byte("x"))
	tests := []struct {
		name string
		opt  Options
		want []string
	}{
		{"no hostname", Options{Dir: t.TempDir()}, []string{"myhostname is empty"}},
		{"no directory", Options{Hostname: "h.example"}, []string{"no directory"}},
		{"directory under a file", Options{Dir: filepath.Join(blocker, "tls"), Hostname: "h.example"}, []string{"self-signed certificate in " + filepath.Join(blocker, "tls")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.opt)
			wantErr(t, err, tt.want...)
		})
	}
}

func TestConfiguredPairServedWithChain(t *testing.T) {
	ch := newChain(t, "mx.example.net")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf := issue(t, leafTemplate("mx.example.net"), ch.mid, rsaKey)
	ecDER, err := x509.MarshalECPrivateKey(mustECKey(t, ch.leaf))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		leaf     *issued
		key      []byte
		inCert   bool // the key goes in the certificate file, smtpd_tls_key_file empty
		certLast bool // the key comes first in the combined file
	}{
		{name: "PKCS #8 key file", leaf: ch.leaf, key: keyPEM(t, ch.leaf.key)},
		{name: "SEC 1 key file", leaf: ch.leaf, key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})},
		{name: "PKCS #1 RSA key file", leaf: rsaLeaf, key: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		{name: "key after the chain", leaf: ch.leaf, key: keyPEM(t, ch.leaf.key), inCert: true},
		{name: "key before the chain", leaf: ch.leaf, key: keyPEM(t, ch.leaf.key), inCert: true, certLast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opt := Options{Dir: filepath.Join(dir, "unused")}
			certs := certPEM(tt.leaf, ch.mid)
			switch {
			case !tt.inCert:
				opt.CertFile = writeFile(t, dir, "cert.pem", certs)
				opt.KeyFile = writeFile(t, dir, "key.pem", tt.key)
			case tt.certLast:
				opt.CertFile = writeFile(t, dir, "both.pem", append(tt.key, certs...))
			default:
				opt.CertFile = writeFile(t, dir, "both.pem", append(certs, tt.key...))
			}
			c := mustLoad(t, opt)
			if c.SelfSigned() {
				t.Error("SelfSigned() = true for a configured pair")
			}
			if _, err := os.Stat(opt.Dir); !os.IsNotExist(err) {
				t.Errorf("the self-signed directory was made for a configured pair: %v", err)
			}
			// The client trusts the root only: it verifies only if the
			// server sends the intermediate.
			roots := x509.NewCertPool()
			roots.AddCert(ch.root.cert)
			cc, err := handshake(t, c.Config(), &tls.Config{RootCAs: roots, ServerName: "mx.example.net"})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			cs := cc.ConnectionState()
			if len(cs.PeerCertificates) != 2 || !cs.PeerCertificates[1].Equal(ch.mid.cert) {
				t.Errorf("server sent %d certificates; want the leaf and the intermediate", len(cs.PeerCertificates))
			}
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) != 3 {
				t.Errorf("verified chains %v; want leaf, intermediate, root", cs.VerifiedChains)
			}
			if !cs.PeerCertificates[0].Equal(tt.leaf.cert) {
				t.Error("server sent another leaf")
			}
		})
	}
}

func mustECKey(t *testing.T, c *issued) *ecdsa.PrivateKey {
	t.Helper()
	k, ok := c.key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("key is %T", c.key)
	}
	return k
}

func TestConfiguredPairErrors(t *testing.T) {
	dir := t.TempDir()
	ch := newChain(t, "mx.example.net")
	other := issue(t, leafTemplate("other.example"), ch.mid, nil)
	cert := writeFile(t, dir, "cert.pem", certPEM(ch.leaf, ch.mid))
	key := writeFile(t, dir, "key.pem", keyPEM(t, ch.leaf.key))
	otherKey := writeFile(t, dir, "other-key.pem", keyPEM(t, other.key))
	reversed := writeFile(t, dir, "reversed.pem", certPEM(ch.mid, ch.leaf))
	keyOnly := writeFile(t, dir, "key-only.pem", keyPEM(t, ch.leaf.key))
	certOnly := writeFile(t, dir, "cert-only.pem", certPEM(ch.leaf))
	badDER := writeFile(t, dir, "bad-der.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	encrypted := writeFile(t, dir, "encrypted.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("junk")}))
	badKey := writeFile(t, dir, "bad-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name      string
		cert, key string
		want      []string
	}{
		{"certificate missing", missing, key, []string{"smtpd_tls_cert_file " + missing + ": reading: no such file"}},
		{"key missing", cert, missing, []string{"smtpd_tls_key_file " + missing + ": reading: no such file"}},
		{"key of another certificate", cert, otherKey, []string{"smtpd_tls_key_file " + otherKey + ": key does not match certificate"}},
		{"intermediate first", reversed, key, []string{"smtpd_tls_key_file " + key + ": key does not match certificate"}},
		{"no certificate", keyOnly, key, []string{"smtpd_tls_cert_file " + keyOnly + ": no PEM certificate found"}},
		{"bad certificate", badDER, key, []string{"smtpd_tls_cert_file " + badDER + ": certificate 1:"}},
		{"no key", cert, certOnly, []string{"smtpd_tls_key_file " + certOnly + ": no PEM private key found"}},
		{"no key in the certificate file", cert, "", []string{"smtpd_tls_cert_file " + cert + ": no PEM private key found", "smtpd_tls_key_file is empty"}},
		{"encrypted key", cert, encrypted, []string{"smtpd_tls_key_file " + encrypted + ": the private key is encrypted"}},
		{"bad key", cert, badKey, []string{"smtpd_tls_key_file " + badKey + ": parsing private key"}},
		{"key without certificate", "", key, []string{"smtpd_tls_key_file is set but smtpd_tls_cert_file is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Options{CertFile: tt.cert, KeyFile: tt.key, Dir: filepath.Join(dir, "tls"), Hostname: "h.example"})
			wantErr(t, err, tt.want...)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
		t.Errorf("a broken configured pair fell back to a self-signed one: %v", err)
	}
}

func TestConfiguredValidityWarnings(t *testing.T) {
	ch := newChain(t, "mx.example.net")
	now := time.Now()
	tests := []struct {
		name string
		now  time.Time
		want string // "" for no warning
	}{
		{"valid", now, ""},
		{"expired", now.Add(48 * time.Hour), "certificate expired on"},
		{"not yet valid", now.Add(-48 * time.Hour), "certificate is not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile := writePair(t, t.TempDir(), ch)
			log, rec := logger()
			c := mustLoad(t, Options{CertFile: certFile, KeyFile: keyFile, Log: log, Now: func() time.Time { return tt.now }})
			if c.Leaf() == nil {
				t.Fatal("no certificate loaded")
			}
			warnings := rec.matching("warning: ")
			if tt.want == "" {
				if len(warnings) != 0 {
					t.Errorf("warnings %q for a valid certificate", warnings)
				}
				return
			}
			if len(warnings) != 1 || len(rec.matching("warning: smtpd_tls_cert_file "+certFile+": "+tt.want)) != 1 {
				t.Errorf("log %q; want a warning %q", rec.lines, tt.want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	a, b := newChain(t, "mx.example.net"), newChain(t, "mx.example.net")
	certFile, keyFile := writePair(t, dir, a)
	c := mustLoad(t, Options{CertFile: certFile, KeyFile: keyFile})
	cfg := c.Config()

	before, err := handshake(t, cfg, insecure())
	if err != nil {
		t.Fatal(err)
	}
	echo(t, before, "before reload\n")

	writePair(t, dir, b)
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	after, err := handshake(t, cfg, insecure())
	if err != nil {
		t.Fatal(err)
	}
	if peerSerial(t, after).Cmp(b.leaf.cert.SerialNumber) != 0 {
		t.Error("a handshake after Reload did not get the new certificate")
	}
	if !c.Leaf().Equal(b.leaf.cert) {
		t.Error("Leaf() is not the new certificate")
	}
	echo(t, before, "the session opened before still works\n")
	if peerSerial(t, before).Cmp(a.leaf.cert.SerialNumber) != 0 {
		t.Error("the session opened before changed certificate")
	}

	// A broken key: Reload fails, the current pair stays.
	writeFile(t, dir, "key.pem", []byte("garbage"))
	wantErr(t, c.Reload(), "smtpd_tls_key_file "+keyFile+": no PEM private key found")
	again, err := handshake(t, cfg, insecure())
	if err != nil {
		t.Fatal(err)
	}
	if peerSerial(t, again).Cmp(b.leaf.cert.SerialNumber) != 0 {
		t.Error("a failed Reload changed the certificate served")
	}
	echo(t, after, "still here\n")
}

func TestReloadSelfSigned(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, Options{Dir: dir, Hostname: "mail.example.org"})
	first := c.Leaf()
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if !c.Leaf().Equal(first) {
		t.Error("Reload made a new self-signed certificate for no reason")
	}
	os.Remove(filepath.Join(dir, SelfSignedCertFile))
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if c.Leaf().Equal(first) || !c.SelfSigned() {
		t.Error("Reload did not make a missing self-signed certificate again")
	}
}

// TestReloadDuringHandshakes runs handshakes while the pair is swapped, for
// the race detector.
func TestReloadDuringHandshakes(t *testing.T) {
	dir := t.TempDir()
	a, b := newChain(t, "mx.example.net"), newChain(t, "mx.example.net")
	certFile, keyFile := writePair(t, dir, a)
	c := mustLoad(t, Options{CertFile: certFile, KeyFile: keyFile})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			for range 3 {
				cc, err := handshake(t, c.Config(), insecure())
				if err != nil {
					errs <- err
					return
				}
				s := cc.ConnectionState().PeerCertificates[0]
				if !s.Equal(a.leaf.cert) && !s.Equal(b.leaf.cert) {
					errs <- fmt.Errorf("served a certificate for %v, neither pair", s.DNSNames)
				}
				_ = c.SelfSigned()
			}
		})
	}
	for i := range 6 {
		writePair(t, dir, []chain{a, b}[i%2])
		if err := c.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVersions(t *testing.T) {
	c := mustLoad(t, Options{Dir: t.TempDir(), Hostname: "mail.example.org"})
	tests := []struct {
		name     string
		min, max uint16
		want     uint16 // 0: refused
	}{
		{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, 0},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, 0},
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, tls.VersionTLS12},
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, tls.VersionTLS13},
		{"any", tls.VersionTLS10, 0, tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := handshake(t, c.Config(), &tls.Config{InsecureSkipVerify: true, MinVersion: tt.min, MaxVersion: tt.max})
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("a %s client was accepted with %s", tt.name, tls.VersionName(cc.ConnectionState().Version))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if v := cc.ConnectionState().Version; v != tt.want {
				t.Errorf("negotiated %s; want %s", tls.VersionName(v), tls.VersionName(tt.want))
			}
		})
	}
}
