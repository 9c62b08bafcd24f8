package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestAuthRefusedBeforePropose: a request no token can carry is refused
// with its OSP code and commits nothing (the applied index does not move
// and no transaction exists under its key).
func TestAuthRefusedBeforePropose(t *testing.T) {
	n := openHostileNode(t)
	authorizeOK(t, n, "5000", "warm-up@host") // the demo seed is applied
	cases := []struct {
		name, calling, callID string
		want                  int
	}{
		{"call-id 148 bytes", calling, strings.Repeat("c", osp.MaxTokenCallIDBytes+1), osp.StatusBadRequest},
		{"call-id 40 KiB", calling, strings.Repeat("c", 40<<10), osp.StatusBadRequest},
		{"calling 198 bytes", strings.Repeat("1", osp.MaxTokenNumberBytes+1), "c@host", osp.StatusCallingInvalid},
		{"calling with a space", "1404 8724799", "c2@host", osp.StatusCallingInvalid},
		{"calling with a tab", "1404\t8724799", "c3@host", osp.StatusCallingInvalid},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := n.Store().AppliedIndex()
			msgID := fmt.Sprint(5100 + i)
			ar := hostileExchange(t, n, "127.0.0.1", goodAuthWith(msgID, c.callID, c.calling, called, "")).Components[0].AuthorizationResponse
			if ar == nil || ar.Status.Code != c.want || len(ar.Destinations) != 0 {
				t.Fatalf("answer %+v, want refusal %d", ar, c.want)
			}
			if after := n.Store().AppliedIndex(); after != before {
				t.Errorf("applied index moved %d -> %d: something was proposed", before, after)
			}
			if _, err := n.Store().TransactionByKey(DemoCarrierA, msgID, c.callID); err == nil {
				t.Error("a transaction was committed")
			}
		})
	}
	// At the limit: accepted, with a token that carries it.
	long := strings.Repeat("d", osp.MaxTokenCallIDBytes)
	ar := authorizeOK(t, n, "5200", long)
	if string(ar.Destinations[0].CallID) != long {
		t.Errorf("call-id %q", ar.Destinations[0].CallID)
	}
}

// TestIndicationUnsigned: unsigned tokens are validated only for a member
// configured for them, and then only when their claims match the ledger's
// transaction.
func TestIndicationUnsigned(t *testing.T) {
	n := openHostileNode(t)
	authorizeOK(t, n, "6000", "warm-up@host")
	m, err := n.Store().Member(DemoCarrierB)
	if err != nil {
		t.Fatal(err)
	}
	m.TokenKind = ledger.TokenText
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := n.Propose(ctx, ledger.PutMember{Member: m}); err != nil || res.Err() != nil {
		t.Fatalf("put member: %v %+v", err, res)
	}
	const callID = "unsigned@host"
	ar := authorizeOK(t, n, "6001", callID)
	var tok []byte
	for _, d := range ar.Destinations {
		if p, err := osp.ParseToken(d.Token); err == nil && p.Kind == osp.TokenText {
			tok = d.Token
		}
	}
	if tok == nil {
		t.Fatalf("no text token for carrier-b: %+v", ar.Destinations)
	}
	p, _ := osp.ParseToken(tok)
	forge := func(f func(*osp.TokenClaims)) []byte {
		c := p.Claims
		f(&c)
		b, err := foreignSigner(t).Issue(osp.TokenText, &c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name, src, calling, called string
		tok                        []byte
		want                       int
	}{
		{"issued text token, member configured for text", "127.0.0.3", calling, called, tok, osp.StatusOK},
		{"same token from a member configured for signed tokens", "127.0.0.1", calling, called, tok, osp.StatusSignatureInvalid},
		{"forged: unknown transaction", "127.0.0.3", calling, called,
			forge(func(c *osp.TokenClaims) { c.TransactionID = ar.TransactionID + 1<<20 }), osp.StatusBadRequest},
		{"forged: another calling number", "127.0.0.3", "14048720000", called,
			forge(func(c *osp.TokenClaims) { c.Calling = "14048720000" }), osp.StatusCallingInvalid},
		{"forged: another called number", "127.0.0.3", calling, "16785550000",
			forge(func(c *osp.TokenClaims) { c.Called = "16785550000" }), osp.StatusDestinationInfoInvalid},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := hostileExchange(t, n, c.src, indicationBody(fmt.Sprint(6100+i), c.tok, c.calling, c.called, callID))
			cnf := msg.Components[0].AuthorizationConfirmation
			if cnf == nil || cnf.Status.Code != c.want {
				t.Fatalf("confirmation %+v, want %d", cnf, c.want)
			}
		})
	}
}

func TestBillableMillis(t *testing.T) {
	g := overLimitGrace.Milliseconds()
	for _, c := range []struct {
		limit uint32
		dur   int64
		want  int64
		over  bool
	}{
		{3600, 60_000, 60_000, false},
		{3600, 3_600_000, 3_600_000, false},
		{3600, 3_600_001, 3_600_000, false},        // capped: paid never exceeds the limit
		{3600, 3_600_000 + g, 3_600_000, false},    // within the grace: capped, not flagged
		{3600, 3_600_000 + g + 1, 3_600_000, true}, // beyond it: capped and flagged
		{3600, 518_400_000, 3_600_000, true},
		{0, 518_400_000, 518_400_000, false}, // no limit: no cap
	} {
		got, over := billableMillis(&ledger.Transaction{TimeLimit: c.limit}, c.dur)
		if got != c.want || over != c.over {
			t.Errorf("limit %d dur %d: %d %v, want %d %v", c.limit, c.dur, got, over, c.want, c.over)
		}
	}
}
