package ledger

import (
	"flag"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

var diffSeed = flag.Uint64("diff.seed", 0, "seed of TestDifferentialApply (0: from the clock)")

// TestDifferentialApply keeps the optimised apply path honest, as raft's
// fuzzy tests do: random command logs are applied by the optimised applier
// (cursor cache, arena, member cache, partial transaction decode, reused
// result encoding, deferred commits) and by the plain reference applier
// (none of them, a commit per entry); every result and the final state
// digest must be equal. The seed is printed; rerun with -diff.seed.
func TestDifferentialApply(t *testing.T) {
	seed := *diffSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -diff.seed %d)", seed, seed)
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	for r := range rounds {
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		fast := openTest(t)
		ref, err := Open(filepath.Join(t.TempDir(), "reference.db"), Options{NoSync: true, CommitEntries: 1, reference: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ref.Close() })
		g := &logGen{rng: rng}
		for index := uint64(1); index <= 60; index++ {
			cmds := g.batch(t, index)
			a := fast.ApplyBatch(index, cmds)
			b := ref.ApplyBatch(index, cmds)
			for i := range a {
				if string(a[i]) != string(b[i]) {
					ra, _ := DecodeResult(a[i])
					rb, _ := DecodeResult(b[i])
					t.Fatalf("round %d index %d command %d (%s): optimised %+v, reference %+v", r, index, i, CommandType(cmds[i][0]), ra, rb)
				}
				if res, err := DecodeResult(a[i]); err == nil {
					g.learn(index, i, cmds[i], res)
				}
			}
		}
		if da, db := digest(t, fast), digest(t, ref); da != db {
			t.Fatalf("round %d: digests differ: optimised %x, reference %x", r, da[:8], db[:8])
		}
		if rep, err := fast.Audit(); err != nil || !rep.OK {
			t.Fatalf("round %d: audit %+v %v", r, rep, err)
		}
	}
}

// logGen draws commands over a small world (three members, two trunks,
// a peer, a few numbers), so that they collide: duplicates, limits,
// conflicts, mismatches, suspensions, late usage.
type logGen struct {
	rng *rand.Rand
	txs []uint64 // authorised transactions
	n   int
}

var genNumbers = []string{"12125550100", "442075550100", "4915550100"}

func (g *logGen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *logGen) batch(t *testing.T, index uint64) [][]byte {
	at := t0.Add(time.Duration(index) * time.Minute)
	var cmds [][]byte
	if index == 1 {
		for _, c := range []Command{
			SetNetwork{Network{ID: "purple", Currency: "USD", TxIDEpoch: 2}},
			PutMember{Member{ID: "a", SellDeckID: "sell-a"}}, PutMember{Member{ID: "b"}}, PutMember{Member{ID: "c", ConcurrentLimit: 2, CPSLimit: 3, CreditLimit: usd("5")}},
			PutTrunk{Trunk{ID: "b1", MemberID: "b", Address: "[192.0.2.9]:5060"}}, PutTrunk{Trunk{ID: "a1", MemberID: "a", Address: "[192.0.2.8]:5060"}},
			PutPeer{Peer{ID: "yellow", ServicePoints: []ServicePoint{{URL: "https://y/osp"}}}},
		} {
			cmds = append(cmds, enc(t, c))
		}
		return cmds
	}
	for range 1 + g.rng.IntN(12) {
		g.n++
		var c Command
		switch k := g.rng.IntN(20); {
		case k < 6:
			src := g.pick("a", "c", "c", "x")
			msg := "m" + strconv.Itoa(g.rng.IntN(40)) // repeats: idempotent retries, or a key reused for another number
			au := Authorize{At: at, SourceMember: src, MessageID: msg, CallID: "call-" + msg, Calling: "15550001", Called: g.pick(genNumbers...),
				TimeLimit: uint32(60 * (1 + g.rng.IntN(60))), UsageDeadline: at.Add(time.Duration(g.rng.IntN(3)) * time.Hour),
				Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}}}
			if g.rng.IntN(4) == 0 {
				au.Destinations = append(au.Destinations, Destination{Kind: DestPeer, ID: "yellow", Called: "00" + au.Called})
				au.UpstreamPeer, au.UpstreamTransactionID = "yellow", uint64(g.rng.IntN(1000))
			}
			if src == "c" {
				au.ActiveUntil, au.Hold = at.Add(time.Duration(1+g.rng.IntN(90))*time.Minute), usd("1.5")
			}
			c = au
		case k < 15 && len(g.txs) > 0:
			c = g.usage(at)
		case k == 15:
			c = SetMemberStatus{ID: g.pick("a", "c"), Status: MemberStatus(g.pick(string(MemberActive), string(MemberSuspended)))}
		case k == 16:
			c = PostEntry{At: at, Memo: "manual", Lines: []PostingLine{{Account: MemberAccount("a"), Amount: usd("0.10")}, {Account: AccountRevenue, Amount: usd("-0.10")}}}
		case k == 17:
			c = AckOutbox{IDs: []uint64{uint64(g.rng.IntN(5)), uint64(g.rng.IntN(5))}}
		case k == 19 && g.rng.IntN(2) == 0:
			id := "fr-" + strconv.Itoa(g.rng.IntN(4))
			if g.rng.IntN(3) == 0 {
				c = FraudRelease{ID: id, At: at, By: "admin:op"}
			} else {
				c = FraudBlock{ID: id, At: at, Member: g.pick("a", "c"), Prefix: g.pick("881", "44"), Rule: "high_risk", By: "node:n1"}
			}
		case k == 18 && index%10 == 0:
			c = ClosePeriod{At: at, ID: "p" + strconv.FormatUint(index, 10), End: at.Add(-30 * time.Minute)}
		default:
			c = SetNetwork{Network{ID: "purple", Currency: "USD", TxIDEpoch: 2,
				BillingBasis: BillingBasis(g.pick("", string(BasisOwn), string(BasisShorter), string(BasisDestination)))}}
		}
		cmds = append(cmds, enc(t, c))
	}
	return cmds
}

// usage draws a report for a known (or made-up) transaction: any role and
// phase, sometimes another call's numbers or an unmatched proposer view.
func (g *logGen) usage(at time.Time) RecordUsage {
	tx := g.txs[g.rng.IntN(len(g.txs))]
	if g.rng.IntN(10) == 0 {
		tx++ // no such transaction
	}
	role, reporter := RoleSource, MemberAccount(g.pick("a", "c"))
	if g.rng.IntN(2) == 0 {
		role, reporter = RoleDestination, MemberAccount("b")
	}
	ms := int64(g.rng.IntN(4000_000))
	u := RecordUsage{At: at, TransactionID: tx, Role: role, ComponentID: strconv.Itoa(g.rng.IntN(3)), Reporter: reporter,
		Calling: "15550001", Called: g.pick(genNumbers...), CallID: "call-m" + strconv.Itoa(g.rng.IntN(40)),
		Connect: at.Add(-time.Hour), DurationMillis: ms, Matched: g.rng.IntN(8) != 0}
	if g.rng.IntN(6) == 0 {
		u.Phase = PhaseNone // a legacy command
	} else {
		u.Phase = UsagePhase(1 + g.rng.IntN(4))
	}
	if u.Phase == PhaseFinal || u.Phase == PhaseNone {
		u.End = u.Connect.Add(time.Duration(ms) * time.Millisecond)
		u.Rating = &Rating{BillableSeconds: ms / 1000}
		if role == RoleSource {
			u.Rating.Sell, u.Rating.SellCounterparty = usd(strconv.Itoa(g.rng.IntN(3))+".0"+strconv.Itoa(g.rng.IntN(10))), reporter
			if g.rng.IntN(3) == 0 && u.Phase != PhaseNone {
				// A forwarded call: the upstream's buy deck bills its own
				// seconds (RecordUsage version 5).
				u.Rating.Buy, u.Rating.BuyCounterparty = usd("0.0"+strconv.Itoa(g.rng.IntN(10))), PeerAccount("yellow")
				u.Rating.SetBuySeconds(ms/1000 + int64(g.rng.IntN(60)))
			}
		} else {
			u.Rating.Buy, u.Rating.BuyCounterparty = usd("0.0"+strconv.Itoa(g.rng.IntN(10))), reporter
		}
		if g.rng.IntN(3) == 0 {
			u.OtherFinal = uint64(g.rng.IntN(int(g.n) + 1))
			u.Adjust = &Rating{BillableSeconds: 1, Sell: usd("0.02"), SellCounterparty: MemberAccount("a")}
			if g.rng.IntN(2) == 0 {
				u.Adjust.SetBuySeconds(int64(g.rng.IntN(3)))
			}
		}
	}
	return u
}

// learn records the transactions the batch authorised.
func (g *logGen) learn(_ uint64, _ int, cmd []byte, res *Result) {
	if CommandType(cmd[0]) == TypeAuthorize && res.Code == OK {
		g.txs = append(g.txs, res.TransactionID)
	}
}
