package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// KeyAlgorithm names a key type this package generates. The zero value
// means ECDSA P-256.
type KeyAlgorithm string

// Supported key algorithms.
const (
	KeyECDSAP256 KeyAlgorithm = "ecdsa"
	KeyRSA2048   KeyAlgorithm = "rsa2048"
	KeyRSA3072   KeyAlgorithm = "rsa3072"
)

// ParseKeyAlgorithm maps a CLI word to a KeyAlgorithm: "" and "ecdsa" (or
// "ecdsa-p256", "p256") give ECDSA P-256, "rsa" and "rsa2048" RSA 2048,
// "rsa3072" RSA 3072. Anything else returns ErrKeyType.
func ParseKeyAlgorithm(s string) (KeyAlgorithm, error) {
	switch s {
	case "", "ecdsa", "ecdsa-p256", "p256":
		return KeyECDSAP256, nil
	case "rsa", "rsa2048":
		return KeyRSA2048, nil
	case "rsa3072":
		return KeyRSA3072, nil
	}
	return "", fmt.Errorf("key algorithm %q (want ecdsa, rsa, rsa2048 or rsa3072): %w", s, ErrKeyType)
}

// generateKey makes a fresh private key of algorithm alg.
func generateKey(alg KeyAlgorithm, r io.Reader) (crypto.Signer, error) {
	if r == nil {
		r = rand.Reader
	}
	switch alg {
	case "", KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), r)
	case KeyRSA2048:
		return rsa.GenerateKey(r, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(r, 3072)
	}
	return nil, fmt.Errorf("key algorithm %q: %w", alg, ErrKeyType)
}

// checkKeyType rejects public keys outside ECDSA P-256 and RSA ≥ 2048.
func checkKeyType(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA curve %s (want P-256): %w", k.Curve.Params().Name, ErrKeyType)
		}
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits (want ≥ 2048): %w", k.N.BitLen(), ErrKeyType)
		}
		return nil
	}
	return fmt.Errorf("public key %T: %w", pub, ErrKeyType)
}

// MarshalKeyPEM encodes a private key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKeyPEM decodes the first private key in data: PKCS#8 "PRIVATE KEY",
// SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". It returns
// ErrCorruptPEM when there is no parsable key block and ErrKeyType for a key
// this package does not support.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("no private key block: %w", ErrCorruptPEM)
		}
		var (
			k   any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s block: %v: %w", b.Type, err, ErrCorruptPEM)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key %T: %w", k, ErrKeyType)
		}
		if err := checkKeyType(s.Public()); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// ParseCertPEM decodes every CERTIFICATE block in data (at least one).
// It returns ErrCorruptPEM if there is none or one does not parse.
func ParseCertPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate block: %v: %w", err, ErrCorruptPEM)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificate block: %w", ErrCorruptPEM)
	}
	return out, nil
}

// certPEM encodes one DER certificate as PEM.
func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// keyMatches reports whether key is the private half of pub.
func keyMatches(key crypto.Signer, pub any) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := key.Public().(equaler)
	return ok && e.Equal(pub)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so a crash never leaves a half-written file. The
// file gets mode perm (0600 for keys) before any byte is written.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
