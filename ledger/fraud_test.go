package ledger

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFraudBlockRelease(t *testing.T) {
	s := openTest(t)
	irsf := FraudBlock{ID: "fr-1", At: t0, Member: "acme", Prefix: "881", Rule: "high_risk", By: "node:n1", Evidence: "12 calls"}
	steps := []struct {
		name string
		cmd  Command
		code ResultCode
		msg  string
	}{
		{"block", irsf, OK, "fr-1"},
		{"same id again (another node's proposal)", irsf, Duplicate, "fr-1"},
		{"same scope, another finding", FraudBlock{ID: "fr-2", At: t0.Add(time.Second), Member: "acme", Prefix: "881", Rule: "high_risk", By: "node:n2"}, Duplicate, "fr-1"},
		{"another member, same prefix", FraudBlock{ID: "fr-3", At: t0, Member: "globex", Prefix: "881", Rule: "high_risk", By: "node:n1"}, OK, "fr-3"},
		{"calling number of every member", FraudBlock{ID: "op-1", At: t0, Calling: "15550001", Rule: "operator", By: "admin:alice", Reason: "spoofed CLI"}, OK, "op-1"},
		{"no scope", FraudBlock{ID: "x", At: t0, Member: "acme", Rule: "operator", By: "admin:alice"}, Invalid, "prefix or a calling"},
		{"prefix for every member", FraudBlock{ID: "x", At: t0, Prefix: "881", Rule: "operator", By: "admin:alice"}, Invalid, "needs a member"},
		{"prefix not digits", FraudBlock{ID: "x", At: t0, Member: "acme", Prefix: "88a", Rule: "operator", By: "admin:alice"}, Invalid, "digits"},
		{"no one decided", FraudBlock{ID: "x", At: t0, Member: "acme", Prefix: "881", Rule: "operator"}, Invalid, "by are required"},
		{"no time", FraudBlock{ID: "x", Member: "acme", Prefix: "881", Rule: "operator", By: "a"}, Invalid, "time"},
		{"huge evidence", FraudBlock{ID: "x", At: t0, Member: "acme", Prefix: "881", Rule: "operator", By: "a", Evidence: strings.Repeat("e", 5000)}, Invalid, "too long"},
		{"release unknown", FraudRelease{ID: "nope", At: t0, By: "admin:alice"}, NotFound, "not found"},
		{"release without who", FraudRelease{ID: "fr-1", At: t0}, Invalid, "by is required"},
		{"release", FraudRelease{ID: "fr-1", At: t0.Add(time.Hour), By: "admin:alice", Reason: "customer confirmed"}, OK, "fr-1"},
		{"release twice", FraudRelease{ID: "fr-1", At: t0.Add(time.Hour), By: "admin:alice"}, Duplicate, "already released"},
		{"a late proposal of the released finding does not block again", irsf, Duplicate, "fr-1"},
		{"a new finding on the released scope blocks", FraudBlock{ID: "fr-4", At: t0.Add(2 * time.Hour), Member: "acme", Prefix: "881", Rule: "high_risk", By: "node:n1"}, OK, "fr-4"},
	}
	for _, st := range steps {
		r := apply1(t, s, st.cmd)[0]
		if r.Code != st.code || !strings.Contains(r.Message, st.msg) {
			t.Fatalf("%s: %s %q, want %s containing %q", st.name, r.Code, r.Message, st.code, st.msg)
		}
	}
	blocks, err := s.FraudBlocks()
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, b := range blocks {
		if b.Active() {
			active = append(active, b.ID)
		}
	}
	if strings.Join(active, ",") != "fr-3,op-1,fr-4" {
		t.Fatalf("active blocks %v", active)
	}
	r, err := s.FraudBlockByID("fr-1")
	if err != nil || r.Active() || r.ReleasedBy != "admin:alice" || r.By != "node:n1" || r.Evidence != "12 calls" || r.ReleaseReason != "customer confirmed" {
		t.Fatalf("audit record %+v %v", r, err)
	}
	if _, err := s.FraudBlockByID("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if g := s.Generations(); g.Fraud != 5 {
		t.Fatalf("fraud generation %d, want 5 (4 blocks, 1 release)", g.Fraud)
	}
}

func TestFraudBlockMatches(t *testing.T) {
	tests := []struct {
		block                   FraudBlock
		member, calling, called string
		want                    bool
	}{
		{FraudBlock{Member: "acme", Prefix: "881"}, "acme", "1555", "8816212345", true},
		{FraudBlock{Member: "acme", Prefix: "881"}, "globex", "1555", "8816212345", false},
		{FraudBlock{Member: "acme", Prefix: "881"}, "acme", "1555", "8826212345", false},
		{FraudBlock{Member: "acme", Prefix: "881"}, "acme", "1555", "88", false},
		{FraudBlock{Calling: "1555"}, "anyone", "1555", "12125550100", true},
		{FraudBlock{Calling: "1555"}, "anyone", "1556", "12125550100", false},
		{FraudBlock{Member: "acme", Calling: "1555", Prefix: "44"}, "acme", "1555", "12125550100", false},
		{FraudBlock{Member: "acme", Calling: "1555", Prefix: "44"}, "acme", "1555", "442075550100", true},
	}
	for i, tc := range tests {
		r := FraudBlockRecord{FraudBlock: tc.block}
		if got := r.Matches(tc.member, tc.calling, tc.called); got != tc.want {
			t.Errorf("%d: %+v matches(%s, %s, %s) = %v", i, tc.block, tc.member, tc.calling, tc.called, got)
		}
		r.ReleasedAt = t0
		if r.Matches(tc.member, tc.calling, tc.called) {
			t.Errorf("%d: a released block matches", i)
		}
	}
}

// TestFraudBlocksSurviveRestartAndSnapshot: blocks and the fraud
// generation are state like any other: reopened and restored they are
// the same, and the digest agrees.
func TestFraudBlocksSurviveRestartAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "ledger.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, apply1(t, s, FraudBlock{ID: "fr-1", At: t0, Member: "acme", Prefix: "881", Rule: "high_risk", By: "node:n1"}))
	want := digest(t, s)
	snap := persisted(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(filepath.Join(dir, "ledger.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if g := s.Generations(); g.Fraud != 1 || digest(t, s) != want {
		t.Fatalf("reopened: generation %d, digest changed %v", g.Fraud, digest(t, s) != want)
	}
	r := openTest(t)
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if bs, err := r.FraudBlocks(); err != nil || len(bs) != 1 || !bs[0].Active() || r.Generations().Fraud != 1 || digest(t, r) != want {
		t.Fatalf("restored: %+v %v", bs, err)
	}
}

func TestResultHead(t *testing.T) {
	for _, r := range []*Result{
		{Code: OK, TransactionID: 1 << 40, Message: "fine", Transaction: &Transaction{ID: 1 << 40, SourceMember: "a"}},
		{Code: RefusedCPS, Message: "calls per second limit reached"},
		{Code: Duplicate, TransactionID: 7},
	} {
		code, tx, ok := ResultHead(EncodeResult(r))
		if !ok || code != r.Code || tx != r.TransactionID {
			t.Errorf("%+v: head %v %d %v", r, code, tx, ok)
		}
	}
	for _, b := range [][]byte{nil, {resultVersion}, {9, 0}, {resultVersion, 0, 200}} {
		if _, _, ok := ResultHead(b); ok {
			t.Errorf("%x: read as a result", b)
		}
	}
}

func TestDecodeAuthorizeCall(t *testing.T) {
	a := benchAuthorize(3)
	a.Calling, a.TimeLimit = "15550009999", 321
	adm := a
	adm.ActiveUntil, adm.Hold = t0.Add(time.Hour), usd("0.5")
	adm.UpstreamPeer, adm.UpstreamTransactionID = "yellow", 99
	for _, c := range []Authorize{a, adm} {
		raw := enc(t, c)
		got, err := DecodeAuthorizeCall(raw)
		want := AuthorizeCall{At: c.At, SourceMember: c.SourceMember, Calling: c.Calling, Called: c.Called, TimeLimit: c.TimeLimit, ActiveUntil: c.ActiveUntil}
		if err != nil || !got.At.Equal(want.At) || !got.ActiveUntil.Equal(want.ActiveUntil) ||
			got.SourceMember != want.SourceMember || got.Calling != want.Calling || got.Called != want.Called || got.TimeLimit != want.TimeLimit {
			t.Fatalf("%+v %v, want %+v", got, err, want)
		}
		for n := 2; n < len(raw)/2; n++ { // cut inside the fields it reads
			if _, err := DecodeAuthorizeCall(raw[:n]); err == nil {
				t.Fatalf("truncated to %d bytes: no error", n)
			}
		}
	}
	if _, err := DecodeAuthorizeCall(enc(t, FraudRelease{ID: "x", At: t0, By: "a"})); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another type: %v", err)
	}
}

func TestDecodeUsageCall(t *testing.T) {
	rated := benchUsage(77, 1)
	life := rated
	life.Phase, life.Matched, life.OverLimit = PhaseFailed, true, true
	over := rated
	over.OverLimit, over.Rating = true, nil
	for _, c := range []RecordUsage{rated, life, over} {
		raw := enc(t, c)
		got, err := DecodeUsageCall(raw)
		if err != nil || !got.At.Equal(c.At) || got.TransactionID != c.TransactionID || got.Role != c.Role || got.Reporter != c.Reporter ||
			got.Called != c.Called || got.DurationMillis != c.DurationMillis || got.Phase != c.Phase {
			t.Fatalf("v%d: %+v %v, want the fields of %+v", raw[1], got, err, c)
		}
		for n := 2; n < len(raw)/2; n++ {
			if _, err := DecodeUsageCall(raw[:n]); err == nil {
				t.Fatalf("truncated to %d bytes: no error", n)
			}
		}
	}
	if _, err := DecodeUsageCall(enc(t, benchAuthorize(1))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another type: %v", err)
	}
}

// FuzzDecodeCalls: the watchers' decoders never panic, and whatever they
// accept that Decode accepts too carries the same fields.
func FuzzDecodeCalls(f *testing.F) {
	f.Add(enc(f, benchAuthorize(1)))
	f.Add(enc(f, benchUsage(7, 1)))
	life := benchUsage(7, 2)
	life.Phase = PhaseFinal
	f.Add(enc(f, life))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := DecodeAuthorizeCall(b); err == nil {
			if c, err := Decode(b); err == nil {
				full := c.(Authorize)
				if full.SourceMember != a.SourceMember || full.Called != a.Called || full.Calling != a.Calling || full.TimeLimit != a.TimeLimit {
					t.Fatalf("DecodeAuthorizeCall %+v, Decode %+v", a, full)
				}
			}
		}
		if u, err := DecodeUsageCall(b); err == nil {
			if c, err := Decode(b); err == nil {
				full := c.(RecordUsage)
				if full.Reporter != u.Reporter || full.Called != u.Called || full.TransactionID != u.TransactionID ||
					full.DurationMillis != u.DurationMillis || full.Role != u.Role || full.Phase != u.Phase {
					t.Fatalf("DecodeUsageCall %+v, Decode %+v", u, full)
				}
			}
		}
	})
}
