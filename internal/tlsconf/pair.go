package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

const (
	certParam = "smtpd_tls_cert_file"
	keyParam  = "smtpd_tls_key_file"
)

// readPair reads a PEM certificate chain from certFile and its private key
// from keyFile (from certFile when keyFile is empty), and checks that the
// key belongs to the first certificate. The chain is served as the file
// gives it. Errors name the parameter (when param is true) and the file.
func readPair(certFile, keyFile string, param bool) (*tls.Certificate, error) {
	certParam, keyParam := certParam, keyParam
	if !param {
		certParam, keyParam = "", ""
	}
	certPEM, err := readFile(certFile)
	if err != nil {
		return nil, fileError(certParam, certFile, err)
	}
	chain, leaf, err := parseChain(certPEM)
	if err != nil {
		return nil, fileError(certParam, certFile, err)
	}
	keyPEM, keyLabel, keyPath := certPEM, certParam, certFile
	if keyFile != "" {
		keyLabel, keyPath = keyParam, keyFile
		if keyPEM, err = readFile(keyFile); err != nil {
			return nil, fileError(keyLabel, keyPath, err)
		}
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		if keyFile == "" {
			err = fmt.Errorf("%w (smtpd_tls_key_file is empty, so the key must be in this file)", err)
		}
		return nil, fileError(keyLabel, keyPath, err)
	}
	if !keyMatches(leaf, key) {
		return nil, fileError(keyLabel, keyPath, errors.New("key does not match certificate (the server's certificate must come first in smtpd_tls_cert_file)"))
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// readFile reads a file, with an error that does not repeat its name.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("reading: %w", err)
	}
	return b, nil
}

// parseChain returns the DER of every CERTIFICATE block in order, and the
// first one parsed. Other blocks (a key in the same file) are skipped.
func parseChain(data []byte) (chain [][]byte, leaf *x509.Certificate, err error) {
	for n := 1; ; {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		if leaf == nil {
			leaf = c
		}
		chain = append(chain, b.Bytes)
		n++
	}
	if leaf == nil {
		return nil, nil, errors.New("no PEM certificate found")
	}
	return chain, leaf, nil
}

// parseKey returns the first private key in data: PKCS #8, PKCS #1 (RSA)
// or SEC 1 (EC).
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, errors.New("the private key is encrypted; give it unencrypted, readable by facteur only")
		}
		return parseKeyDER(b.Type, b.Bytes)
	}
}

func parseKeyDER(typ string, der []byte) (crypto.Signer, error) {
	var k any
	var err error
	switch typ {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(der)
	default:
		k, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", k)
}

// keyMatches reports whether key is the private half of leaf's public key.
func keyMatches(leaf *x509.Certificate, key crypto.Signer) bool {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}
