package ledger

import (
	"encoding/hex"
	"testing"
	"time"
)

// goldenFullDigest is the Digest after buildFull (every command type,
// including duplicates below), recorded before the apply hot-path
// optimisations: any change to stored bytes changes it. Update only
// with a deliberate, documented change of the on-disk format.
//
// The fraud block and release commands (types 17 and 18) joined the log
// on 2026-12-02; goldenPreFraudDigest is the digest recorded before them,
// which the same log without those commands must still give (a log
// written before they existed builds the state it always did).
const (
	goldenFullDigest     = "14ea588a34cd53905faa834fee9e3c4ff2386253e0a0a21205c9b165e770acc2"
	goldenPreFraudDigest = "84a68e95f758bc709efbc3cdaa14b1a17f7392429b4581a1836542d4eaf01ae1"
)

// TestGoldenDigest applies a fixed log of every command type, plus a
// batch of duplicate and expired/unmatched usage and a duplicate
// authorisation, and compares the state digest with a recorded constant.
func TestGoldenDigest(t *testing.T) {
	for _, tc := range []struct {
		name string
		skip []CommandType
		want string
	}{
		{"every command type", nil, goldenFullDigest},
		{"before fraud blocks", []CommandType{TypeFraudBlock, TypeFraudRelease}, goldenPreFraudDigest},
	} {
		t.Run(tc.name, func(t *testing.T) { testGoldenDigest(t, tc.skip, tc.want) })
	}
}

func testGoldenDigest(t *testing.T, skip []CommandType, goldenFullDigest string) {
	s := openTest(t)
	log := buildFullWithout(t, s, skip...)
	if len(log) == 0 {
		t.Fatal("empty log")
	}
	tx1, _ := TransactionIDFor(1, 3, 0)
	dup := benchUsage(tx1, 7)
	dup.ComponentID = ""
	rs := apply1(t, s,
		benchAuthorize(1), benchAuthorize(1), // new, then duplicate
		benchUsage(tx1, 1), benchUsage(tx1, 1), // posted, then duplicate
		dup, // same transaction and role, another component
		RecordUsage{At: t0.Add(48 * time.Hour), TransactionID: 424242, Role: RoleSource, Reporter: MemberAccount("b"), DurationMillis: 5},
	)
	mustOK(t, rs)
	got := digest(t, s)
	if h := hex.EncodeToString(got[:]); h != goldenFullDigest {
		t.Errorf("digest %s, want %s", h, goldenFullDigest)
	}
}

// goldenBenchDigest is the Digest after one batch of 256 benchmark
// authorisations and one of their 256 rated usages (the hot path the
// benchmarks measure), recorded like goldenFullDigest.
const goldenBenchDigest = "f1834e0d3f02b6a93de1547a4e8c1d0212bfb0841d4150b584703d5e73c3a651"

func TestGoldenDigestHotPath(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	var auths []Command
	for i := 0; i < 256; i++ {
		auths = append(auths, benchAuthorize(i))
	}
	rs := apply1(t, s, auths...)
	mustOK(t, rs)
	var usages []Command
	for i, r := range rs {
		usages = append(usages, benchUsage(r.TransactionID, i))
	}
	mustOK(t, apply1(t, s, usages...))
	got := digest(t, s)
	if h := hex.EncodeToString(got[:]); h != goldenBenchDigest {
		t.Errorf("digest %s, want %s", h, goldenBenchDigest)
	}
}
