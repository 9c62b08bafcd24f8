package ledger

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// authV1 re-encodes a as a version 1 envelope (what an older build wrote).
func authV1(t *testing.T, a Authorize) []byte {
	t.Helper()
	b := enc(t, a)
	b[1] = 1
	return b
}

// TestAuthorizeOversizedFields: request data too large for a bbolt key (a
// Call-ID of 40 KiB) or over the field bounds is an Invalid result, in
// both versions, never a panic of Apply; the state after a replay of the
// same log from scratch, and after reopening the store, is the same.
func TestAuthorizeOversizedFields(t *testing.T) {
	base := func() Authorize {
		return Authorize{At: t0.Add(time.Hour), SourceMember: "a", MessageID: "m", CallID: "c", Calling: "15550001", Called: "12125550100",
			Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}}, TimeLimit: 60}
	}
	with := func(f func(*Authorize)) Authorize { a := base(); f(&a); return a }
	huge := strings.Repeat("c", 40<<10)
	cases := []struct {
		name string
		cmd  []byte
		want ResultCode
	}{
		{"v2 call id 40 KiB", enc(t, with(func(a *Authorize) { a.CallID = huge })), Invalid},
		{"v2 call id over bound", enc(t, with(func(a *Authorize) { a.CallID = strings.Repeat("c", MaxCallIDBytes+1) })), Invalid},
		{"v2 call id not utf-8", enc(t, with(func(a *Authorize) { a.CallID = "\xff\xfe" })), Invalid},
		{"v2 message id over bound", enc(t, with(func(a *Authorize) { a.MessageID = strings.Repeat("7", MaxMessageIDBytes+1) })), Invalid},
		{"v2 calling over bound", enc(t, with(func(a *Authorize) { a.Calling = strings.Repeat("1", MaxNumberBytes+1) })), Invalid},
		{"v2 called over bound", enc(t, with(func(a *Authorize) { a.Called = strings.Repeat("1", MaxNumberBytes+1) })), Invalid},
		{"v2 upstream peer over bound", enc(t, with(func(a *Authorize) { a.UpstreamPeer = strings.Repeat("p", maxIDLen+1); a.UpstreamTransactionID = 1 })), Invalid},
		{"v2 too many destinations", enc(t, with(func(a *Authorize) {
			a.Destinations = make([]Destination, MaxAuthorizeDestinations+1)
			for i := range a.Destinations {
				a.Destinations[i] = Destination{Kind: DestTrunk, ID: "b1"}
			}
		})), Invalid},
		{"v2 destination address over bound", enc(t, with(func(a *Authorize) { a.Destinations[0].Address = strings.Repeat("x", MaxAddressBytes+1) })), Invalid},
		{"v2 call id at bound", enc(t, with(func(a *Authorize) { a.CallID = strings.Repeat("d", MaxCallIDBytes) })), OK},
		{"v1 call id 40 KiB", authV1(t, with(func(a *Authorize) { a.CallID = huge; a.MessageID = "v1" })), Invalid},
		{"v1 call id 2 KiB (old rules: no bound)", authV1(t, with(func(a *Authorize) { a.CallID = strings.Repeat("e", 2048); a.MessageID = "v1" })), OK},
	}
	log := fullLog(t)[:2]
	next := uint64(len(log) + 1)
	for _, c := range cases {
		log = append(log, batch{next, [][]byte{c.cmd}})
		next++
	}
	s := openTest(t)
	rs := applyLog(t, s, log)
	for i, c := range cases {
		if got := rs[2+i][0]; got.Code != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, got.Code, got.Message, c.want)
		}
	}
	want := digest(t, s)

	// A restart replays the log into a fresh state machine: same results.
	s2 := openTest(t)
	applyLog(t, s2, log)
	if got := digest(t, s2); got != want {
		t.Errorf("replay digest %x, want %x", got, want)
	}
	// Reopening the file keeps the state.
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := digest(t, s3); got != want {
		t.Errorf("reopened digest %x, want %x", got, want)
	}
	// Both key forms are found by a retry.
	if _, err := s3.TransactionByKey("a", "m", strings.Repeat("d", MaxCallIDBytes)); err != nil {
		t.Errorf("v2 transaction with a long call id: %v", err)
	}
	if _, err := s3.TransactionByKey("a", "v1", strings.Repeat("e", 2048)); err != nil {
		t.Errorf("v1 transaction with a long call id: %v", err)
	}
	if _, err := s3.TransactionByKey("a", "m", huge); err == nil {
		t.Errorf("refused transaction found")
	}
}

// TestAuthorizeKeyHashed: a version 2 key is bounded whatever the
// Call-ID, and a hashed component never equals a raw one.
func TestAuthorizeKeyHashed(t *testing.T) {
	long := strings.Repeat("c", MaxCallIDBytes)
	k := txIdemKey("a", strings.Repeat("m", MaxMessageIDBytes), long)
	if len(k) > 2*(1+keyHashThreshold)+maxIDLen+8 {
		t.Errorf("key of %d bytes", len(k))
	}
	if bytes.Equal(txIdemKey("a", "m", long), txIdemKey("a", "m", long[1:])) {
		t.Error("different call ids, same key")
	}
	short := strings.Repeat("c", keyHashThreshold)
	if !bytes.Equal(txIdemKey("a", "m", short), txIdemKeyV1("a", "m", short)) {
		t.Error("a short key changed form")
	}
}

// TestRecordUsageOversizedKey: a usage whose idempotency key bbolt would
// refuse is Invalid, not a panic.
func TestRecordUsageOversizedKey(t *testing.T) {
	s := openTest(t)
	applyLog(t, s, fullLog(t)[:1])
	rs := apply1(t, s, RecordUsage{At: t0, Role: RoleSource, Reporter: "member:a", ReporterKey: strings.Repeat("k", 40<<10)})
	if rs[0].Code != Invalid {
		t.Errorf("%s (%s), want Invalid", rs[0].Code, rs[0].Message)
	}
	rs = apply1(t, s, RecordUsage{At: t0, Role: RoleSource, Reporter: "member:a", ReporterKey: "k1", ComponentID: "1"})
	mustOK(t, rs)
}
