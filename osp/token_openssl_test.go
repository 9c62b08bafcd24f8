package osp

import (
	"bytes"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestTokenSignedByOpenSSL checks the hand-built SignedData with OpenSSL,
// the library under the OSP Toolkit's own PKCS7_verify. Skipped where no
// openssl binary is installed.
func TestTokenSignedByOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	attime := strconv.FormatInt(tokenPKINow.Unix(), 10)
	for _, pki := range []string{"ecdsa", "rsa"} {
		t.Run(pki, func(t *testing.T) {
			p := testTokenPKI(t, pki)
			c := testClaims()
			tok, err := p.signer(t).Issue(TokenSigned, c)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			tokPath, caPath := filepath.Join(dir, "tok.der"), filepath.Join(dir, "ca.pem")
			if err := os.WriteFile(tokPath, tok, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.caCert.Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			// -attime: inside the test certificates' validity.
			cmd := exec.Command(bin, "smime", "-verify", "-binary", "-inform", "DER", "-in", tokPath,
				"-CAfile", caPath, "-purpose", "any", "-attime", attime)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openssl: %v\n%s", err, stderr.Bytes())
			}
			text, _ := (*TokenSigner)(nil).Issue(TokenText, c)
			if !bytes.Equal(out, text) {
				t.Fatalf("openssl output %q, want the content %q", out, text)
			}
			// A flipped signature byte is refused by OpenSSL too.
			tok[len(tok)-2] ^= 1
			if err := os.WriteFile(tokPath, tok, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "smime", "-verify", "-binary", "-inform", "DER", "-in", tokPath,
				"-CAfile", caPath, "-purpose", "any", "-attime", attime).CombinedOutput(); err == nil {
				t.Fatalf("openssl accepted a corrupted signature:\n%s", out)
			}
		})
	}
}
