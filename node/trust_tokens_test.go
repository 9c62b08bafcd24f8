package node

import (
	"crypto/x509"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// TestTrustTokenRotation: `ospnode ca issue --kind token --retire-previous`
// then Reload: new tokens are signed by the new key; a token signed by the
// old key still validates (AuthorizationIndication) and the bundle holds
// both certificates until the overlap (the longest token life) has passed;
// a revoked token key's tokens are refused.
func TestTrustTokenRotation(t *testing.T) {
	var skew atomic.Int64 // the node's clock runs this far ahead
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	pkiDir := filepath.Join(t.TempDir(), "pki")
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo, cfg.PKIDir, cfg.Clock = true, true, pkiDir, clock
	n := openNode(t, cfg)
	a, b := client("127.0.0.1"), client("127.0.0.3")

	authorise := func(id string) osp.Destination {
		t.Helper()
		ar := authResponse(t, exchange(t, a, n.OSPURL(), authRequest(id, "rot-"+id, called, 5)))
		if ar.Status.Code != osp.StatusOK || len(ar.Destinations) != 1 {
			t.Fatalf("authorisation %s: %+v", id, ar)
		}
		return ar.Destinations[0]
	}
	indicate := func(id string, d osp.Destination) int {
		t.Helper()
		m := exchange(t, b, n.OSPURL(), &osp.Message{MessageID: id, Components: []osp.Component{{ID: "1",
			AuthorizationIndication: &osp.AuthorizationIndication{Role: osp.RoleDestination, CallID: d.CallID, Token: d.Token,
				CallInfo: osp.CallInfo{SourceInfo: osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
					DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: called}}}}}}})
		return m.Components[0].AuthorizationConfirmation.Status.Code
	}
	signedBy := func(d osp.Destination, cert *x509.Certificate) bool {
		p := x509.NewCertPool()
		p.AddCert(cert)
		_, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: p, Now: clock(), Calling: calling, Called: called, CallID: d.CallID})
		return err == nil
	}
	bundle := func() []*x509.Certificate {
		t.Helper()
		code, body, err := adminDo(t, &http.Client{Timeout: 5 * time.Second}, http.MethodGet, n.AdminURL()+"/v1/ca/bundle", n.AdminToken(), nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("bundle: %d %v", code, err)
		}
		certs, err := pki.ParseCertPEM(body)
		if err != nil {
			t.Fatal(err)
		}
		return certs
	}

	old := n.tokens.keyring.Current().Cert
	d1 := authorise("1")
	if !signedBy(d1, old) {
		t.Fatal("first token not signed by the first key")
	}
	if got := bundle(); len(got) != 2 || !got[1].Equal(old) {
		t.Fatalf("bundle before rotation: %d certificates", len(got))
	}
	if code, _, _ := adminDo(t, &http.Client{Timeout: 5 * time.Second}, http.MethodGet, n.AdminURL()+"/v1/ca/bundle", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("bundle without token: %d", code)
	}

	// Rotate as `ospnode ca issue --kind token --retire-previous 11m --out PKI/token-signing` does.
	ca, err := pki.OpenCA(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	overlap := n.Config().TokenValidity + n.Config().TokenSkew // the longest token life
	is, err := ca.RotateTokenSigning(pki.IssueRequest{CommonName: "ospnode token signer 2", OutPrefix: filepath.Join(pkiDir, tokenSignerPrefix)}, overlap)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Reload(); err != nil {
		t.Fatal(err)
	}
	if cur := n.tokens.keyring.Current().Cert; !cur.Equal(is.Cert) {
		t.Fatal("reload did not switch to the new key")
	}
	if err := n.Reload(); err != nil { // unchanged files: no second rotation
		t.Fatal(err)
	}
	d2 := authorise("2")
	if !signedBy(d2, is.Cert) || signedBy(d2, old) {
		t.Fatal("token after rotation not signed by the new key")
	}
	for name, d := range map[string]osp.Destination{"old key": d1, "new key": d2} {
		if code := indicate("i-"+name, d); code != osp.StatusOK {
			t.Fatalf("indication with the %s's token: %d", name, code)
		}
	}
	if got := bundle(); len(got) != 3 || !got[1].Equal(is.Cert) || !got[2].Equal(old) {
		t.Fatalf("bundle in the overlap: %d certificates", len(got))
	}
	if b, err := ca.Bundle(); err != nil || len(mustParse(t, b)) != 3 {
		t.Fatalf("`ospnode ca bundle` in the overlap: %v", err)
	}

	// The old key revoked (replicated): its tokens are refused.
	mustPropose(t, n, ledger.RevokeCert{Serial: old.SerialNumber.Text(16), At: time.Now().UTC()})
	if code := indicate("i-revoked", d1); code != osp.StatusCertificateRevoked {
		t.Fatalf("indication with a revoked key's token: %d, want %d", code, osp.StatusCertificateRevoked)
	}
	if code := indicate("i-new", d2); code != osp.StatusOK {
		t.Fatalf("indication with the new key's token after revoking the old: %d", code)
	}

	// Past the overlap the old certificate leaves the bundle.
	skew.Store(int64(overlap + time.Second))
	if got := bundle(); len(got) != 2 || !got[1].Equal(is.Cert) {
		t.Fatalf("bundle after the overlap: %d certificates", len(got))
	}
}

func mustParse(t testing.TB, pemBytes []byte) []*x509.Certificate {
	t.Helper()
	c, err := pki.ParseCertPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
