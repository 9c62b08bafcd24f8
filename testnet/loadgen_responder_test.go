package testnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// testPKI is a CA and a token-signing certificate it issued.
type testPKI struct {
	ca     *x509.Certificate
	pool   *x509.CertPool
	signer *osp.TokenSigner
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " token signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s, err := osp.NewTokenSigner(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, pool: pool, signer: s}
}

// responder is a small OSP server built on package osp's codec: it answers
// AuthorizationRequests with up to maxDest destinations carrying tokens of
// kind tokenKind, and UsageIndications with confirmations, recording each
// confirmed usage in its ledger. Fault hooks make it answer 503, an HTTP
// error, or confirm a usage without recording it.
type responder struct {
	t         testing.TB
	pki       *testPKI
	tokenKind osp.TokenKind
	maxDest   int

	// authStatus, if set, returns a non-200 OSP status for auth request n
	// (0-based), or 0 to answer normally.
	authStatus func(n uint64) int
	// httpError, if set, returns an HTTP status (≠200) for request n of
	// any kind, or 0.
	httpError func(n uint64) int
	// lose, if set, makes the usage with this (0-based) number confirmed
	// but not recorded: a server that lies.
	lose func(n uint64) bool

	reqs, auths, usages atomic.Uint64
	txid                atomic.Uint64

	mu        sync.Mutex
	issued    map[uint64]issue // txid → what was authorised
	ledger    map[ConfirmedUsage]bool
	badUsages []string       // usages that do not match an issued transaction
	from      map[string]int // "role ip" → usages received
}

type issue struct {
	called string
	dest   bool // the txid of a destination's token, not of the response
}

func newResponder(t testing.TB, p *testPKI) *responder {
	return &responder{t: t, pki: p, maxDest: 16, issued: map[uint64]issue{},
		ledger: map[ConfirmedUsage]bool{}, from: map[string]int{}}
}

func (s *responder) start(t testing.TB) string {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + "/osp"
}

func (s *responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.reqs.Add(1) - 1
	if s.httpError != nil {
		if code := s.httpError(n); code != 0 {
			http.Error(w, "injected", code)
			return
		}
	}
	req, err := osp.ReadRequest(r, osp.Limits{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now().UTC()
	resp := &osp.Message{MessageID: req.MessageID, Random: req.Random}
	for i := range req.Components {
		c := &req.Components[i]
		switch c.Kind() {
		case osp.KindAuthorizationRequest:
			resp.Components = append(resp.Components, osp.Component{ID: c.ID, AuthorizationResponse: s.authorize(c.AuthorizationRequest, now)})
		case osp.KindUsageIndication:
			resp.Components = append(resp.Components, osp.Component{ID: c.ID, UsageConfirmation: s.use(c.ID, c.UsageIndication, now, r.RemoteAddr)})
		default:
			resp.Components = append(resp.Components, osp.Component{ID: c.ID,
				UsageConfirmation: &osp.UsageConfirmation{Timestamp: now, Status: osp.NewStatus(osp.StatusBadRequest)}})
		}
	}
	if err := osp.WriteMessage(w, resp); err != nil {
		s.t.Errorf("responder: write: %v", err)
	}
}

func (s *responder) authorize(ar *osp.AuthorizationRequest, now time.Time) *osp.AuthorizationResponse {
	n := s.auths.Add(1) - 1
	if s.authStatus != nil {
		if code := s.authStatus(n); code != 0 {
			return &osp.AuthorizationResponse{Timestamp: now, Status: osp.NewStatus(code)}
		}
	}
	if ar.Calling() == "" || ar.Called() == "" || len(ar.CallIDs) == 0 || ar.CustomerID == "" || ar.SourceDevice() == "" {
		return &osp.AuthorizationResponse{Timestamp: now, Status: osp.NewStatus(osp.StatusBadRequest)}
	}
	txid := s.txid.Add(1) + 1000
	nd := min(ar.MaximumDestinations, s.maxDest)
	resp := &osp.AuthorizationResponse{Timestamp: now, Status: osp.NewStatus(osp.StatusOK), TransactionID: txid}
	for d := range nd {
		// Each destination gets its own transaction id in its token, as a
		// server that tracks attempts per route would; usage from the
		// destination must carry the token's.
		dtx := txid*100 + uint64(d)
		claims := &osp.TokenClaims{
			Random: strconv.Itoa(d), Calling: ar.Calling(), Called: ar.Called(), CallID: ar.CallIDs[0],
			ValidAfter: now.Add(-time.Minute), ValidUntil: now.Add(10 * time.Minute),
			TransactionID: dtx, AuthorisedSeconds: 3600,
			DestinationAddress: fmt.Sprintf("[127.0.0.%d]:5060", d+2),
		}
		var tok []byte
		var err error
		if s.tokenKind == osp.TokenSigned {
			tok, err = s.pki.signer.Issue(osp.TokenSigned, claims)
		} else {
			tok, err = (*osp.TokenSigner)(nil).Issue(s.tokenKind, claims)
		}
		if err != nil {
			s.t.Errorf("responder: issue token: %v", err)
			return &osp.AuthorizationResponse{Timestamp: now, Status: osp.NewStatus(osp.StatusInternalError)}
		}
		resp.Destinations = append(resp.Destinations, osp.Destination{
			SignalAddress: claims.DestinationAddress, Token: tok, CallID: ar.CallIDs[0],
			ValidAfter: claims.ValidAfter, ValidUntil: claims.ValidUntil, UsageDetail: osp.TimeLimit(3600),
			NetworkID: "trunk" + strconv.Itoa(d),
		})
		s.mu.Lock()
		s.issued[dtx] = issue{called: ar.Called(), dest: true}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.issued[txid] = issue{called: ar.Called()}
	s.mu.Unlock()
	return resp
}

func (s *responder) use(id string, u *osp.UsageIndication, now time.Time, remote string) *osp.UsageConfirmation {
	n := s.usages.Add(1) - 1
	s.mu.Lock()
	defer s.mu.Unlock()
	if host, _, err := net.SplitHostPort(remote); err == nil {
		s.from[u.Role+" "+host]++
	}
	is, ok := s.issued[u.TransactionID]
	switch {
	case !ok:
		s.badUsages = append(s.badUsages, fmt.Sprintf("unknown txid %d (%s)", u.TransactionID, u.Role))
	case is.called != u.Called():
		s.badUsages = append(s.badUsages, fmt.Sprintf("txid %d: called %q, authorised %q", u.TransactionID, u.Called(), is.called))
	case is.dest != (u.Role == osp.RoleDestination):
		s.badUsages = append(s.badUsages, fmt.Sprintf("%s usage with txid %d, a destination token's: %v", u.Role, u.TransactionID, is.dest))
	case u.UsageDetail == nil || len(u.UsageDetail.TerminationCause) == 0:
		s.badUsages = append(s.badUsages, fmt.Sprintf("txid %d: no usage detail", u.TransactionID))
	}
	if s.lose == nil || !s.lose(n) {
		s.ledger[ConfirmedUsage{TransactionID: u.TransactionID, Role: u.Role, ComponentID: id}] = true
	}
	return &osp.UsageConfirmation{Timestamp: now, Status: osp.NewStatus(osp.StatusOK)}
}

// adminHandler serves the usage look-up of AdminLedger from the ledger.
func (s *responder) adminHandler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/v1/usage/")
		txid, err := strconv.ParseUint(rest, 10, 64)
		if !ok || err != nil || r.Method != http.MethodGet {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		u := ConfirmedUsage{TransactionID: txid, Role: r.URL.Query().Get("role"), ComponentID: r.URL.Query().Get("component")}
		s.mu.Lock()
		found := s.ledger[u]
		s.mu.Unlock()
		if !found {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"transactionId":"%d","role":%q}`, u.TransactionID, u.Role)
	})
}
