package tlsconf

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"facteur/internal/maillog"
)

// recorder keeps the messages of the log lines written through it.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, rec.Message)
	return nil
}

// logger returns a mail logger and the recorder of its lines.
func logger() (*maillog.Logger, *recorder) {
	r := &recorder{}
	return maillog.New(slog.New(r)), r
}

// matching returns the recorded lines that contain s.
func (r *recorder) matching(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// issued is a certificate made by a test, with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var testSerial struct {
	mu sync.Mutex
	n  int64
}

// issue makes a certificate from tmpl, signed by parent (self-signed when
// parent is nil), with a new P-256 key unless key is given.
func issue(t *testing.T, tmpl *x509.Certificate, parent *issued, key crypto.Signer) *issued {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	testSerial.mu.Lock()
	testSerial.n++
	tmpl.SerialNumber = big.NewInt(testSerial.n + time.Now().UnixNano())
	testSerial.mu.Unlock()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: c, key: key}
}

func caTemplate(name string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
}

func leafTemplate(host string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: host},
		DNSNames:    []string{host},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// chain is a root, an intermediate and a leaf for host.
type chain struct{ root, mid, leaf *issued }

func newChain(t *testing.T, host string) chain {
	root := issue(t, caTemplate("Test Root"), nil, nil)
	mid := issue(t, caTemplate("Test Intermediate"), root, nil)
	leaf := issue(t, leafTemplate(host), mid, nil)
	return chain{root, mid, leaf}
}

func certPEM(cs ...*issued) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})...)
	}
	return b
}

func keyPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeFile writes a test file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writePair writes leaf+intermediate and the leaf's key as cert.pem and
// key.pem in dir.
func writePair(t *testing.T, dir string, c chain) (certFile, keyFile string) {
	return writeFile(t, dir, "cert.pem", certPEM(c.leaf, c.mid)), writeFile(t, dir, "key.pem", keyPEM(t, c.leaf.key))
}

// handshake runs a TLS handshake over a loopback connection (net.Pipe has
// no buffer, and TLS 1.3 writes session tickets that nobody reads yet). On
// success the server side echoes what the client writes until the client
// closes, which the test's cleanup does.
func handshake(t *testing.T, server, client *tls.Config) (*tls.Conn, error) {
	t.Helper()
	sp, cp, err := loopback()
	if err != nil {
		return nil, err
	}
	sc, cc := tls.Server(sp, server), tls.Client(cp, client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serr := make(chan error, 1)
	go func() { serr <- sc.HandshakeContext(ctx) }()
	cerr := cc.HandshakeContext(ctx)
	if cerr != nil {
		cc.Close()
		sc.Close()
		<-serr
		return nil, cerr
	}
	if err := <-serr; err != nil {
		cc.Close()
		sc.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(sc, sc)
		sc.Close()
	}()
	t.Cleanup(func() {
		cc.Close()
		<-done
	})
	return cc, nil
}

// loopback returns both ends of a new loopback TCP connection.
func loopback() (server, client net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-ch
		return nil, nil, err
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		return nil, nil, a.err
	}
	return a.c, client, nil
}

// echo writes s on a session and reads it back.
func echo(t *testing.T, c *tls.Conn, s string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("writing on the session: %v", err)
	}
	buf := make([]byte, len(s))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != s {
		t.Fatalf("echo read %q, %v; want %q", buf, err, s)
	}
}

// peerSerial returns the serial of the certificate the server presented.
func peerSerial(t *testing.T, c *tls.Conn) *big.Int {
	t.Helper()
	pc := c.ConnectionState().PeerCertificates
	if len(pc) == 0 {
		t.Fatal("no peer certificate")
	}
	return pc[0].SerialNumber
}

// insecure is a client that takes any certificate.
func insecure() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

func mustLoad(t *testing.T, opt Options) *Certs {
	t.Helper()
	c, err := Load(opt)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// wantErr fails unless err is non-nil and contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}
