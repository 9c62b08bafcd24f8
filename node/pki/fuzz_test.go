package pki

import (
	"encoding/asn1"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParsePEM(f *testing.F) {
	dir := f.TempDir()
	ca, err := InitCA(filepath.Join(dir, "ca"), CAOptions{})
	if err != nil {
		f.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(ca.Dir(), CAKeyFile))
	f.Add(ca.CertPEM())
	f.Add(key)
	f.Add(append(ca.CertPEM(), key...))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if certs, err := ParseCertPEM(data); err != nil {
			if !errors.Is(err, ErrCorruptPEM) {
				t.Fatalf("untyped cert error %v", err)
			}
		} else if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		if k, err := ParseKeyPEM(data); err != nil {
			if !errors.Is(err, ErrCorruptPEM) && !errors.Is(err, ErrKeyType) {
				t.Fatalf("untyped key error %v", err)
			}
		} else if checkKeyType(k.Public()) != nil {
			t.Fatal("accepted an unsupported key")
		}
	})
}

// FuzzLegacySubject: the CSR subject re-tagging never panics, and whatever
// it returns is all PrintableString.
func FuzzLegacySubject(f *testing.F) {
	_, body := capture(f, "13-enroll-request.request.http")
	form, err := ParseEnrollForm(body)
	if err != nil {
		f.Fatal(err)
	}
	csr, err := parseCSR(form.CSR)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(csr.RawSubject)
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x31, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := legacySubject(raw)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var rdns []legacyRDNSET
		if _, err := asn1Unmarshal(out.FullBytes, &rdns); err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		for _, rdn := range rdns {
			for _, a := range rdn {
				if a.Value.Tag != 19 {
					t.Fatalf("value tag %d", a.Value.Tag)
				}
			}
		}
	})
}

func asn1Unmarshal(b []byte, v any) ([]byte, error) { return asn1.Unmarshal(b, v) }
