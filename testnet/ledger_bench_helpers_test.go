package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
)

// lcStateMachine adapts *ledger.Store to consensus.StateMachine as
// node/fsm.go does (the two packages declare their own Snapshot interface).
type lcStateMachine struct{ s *ledger.Store }

var _ consensus.StateMachine = lcStateMachine{}

func (m lcStateMachine) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	return m.s.ApplyBatch(index, cmds)
}

func (m lcStateMachine) AppliedIndex() uint64 { return m.s.AppliedIndex() }

func (m lcStateMachine) Snapshot() (consensus.Snapshot, error) {
	snap, err := m.s.Snapshot()
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func (m lcStateMachine) Restore(r io.Reader) error { return m.s.Restore(r) }

// lcNode is one consensus node with its own ledger.
type lcNode struct {
	id    string
	addr  string
	store *ledger.Store
	n     *consensus.Node
}

// lcCluster is a 3-node loopback cluster replicating real ledgers, built
// the way node.Open wires consensus and ledger (without OSP, tokens or TLS).
type lcCluster struct {
	tb    testing.TB
	nodes []*lcNode
	// seq numbers the Authorize messages and usage components, so that
	// every seeded call is new across the benchmark's b.N rounds.
	seq int
}

// lcOpenCluster boots ids[0] as a single-node cluster and joins two more.
// groupOn selects consensus group commit; unsynced opens the ledgers with
// ledger.Options{Unsynced: true} (the Raft log stays fsynced either way).
func lcOpenCluster(tb testing.TB, dir string, groupOn, unsynced bool) *lcCluster {
	tb.Helper()
	c := &lcCluster{tb: tb}
	for i, id := range []string{"a", "b", "c"} {
		ndir := filepath.Join(dir, id)
		if err := os.MkdirAll(ndir, 0o750); err != nil {
			tb.Fatal(err)
		}
		// The ledger's default Options (deferred commit) but for Unsynced,
		// as node.Open passes them.
		store, err := ledger.Open(filepath.Join(ndir, "ledger.db"), ledger.Options{Unsynced: unsynced})
		if err != nil {
			tb.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			store.Close()
			tb.Fatal(err)
		}
		n, err := consensus.Open(consensus.Config{
			NodeID: id, Dir: filepath.Join(ndir, "raft"), Listener: ln, Bootstrap: i == 0,
			Batch:            consensus.BatchConfig{Disabled: !groupOn},
			Logger:           slog.New(slog.DiscardHandler),
			HeartbeatTimeout: time.Second, ElectionTimeout: time.Second,
			LeaderLeaseTimeout: 500 * time.Millisecond, CommitTimeout: 50 * time.Millisecond,
			ApplyTimeout: time.Minute, LeaderWait: 10 * time.Second,
		}, lcStateMachine{store})
		if err != nil {
			store.Close()
			tb.Fatalf("open %s: %v", id, err)
		}
		c.nodes = append(c.nodes, &lcNode{id: id, addr: ln.Addr().String(), store: store, n: n})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if i == 0 {
			err = n.WaitForLeader(ctx)
		} else {
			err = n.JoinCluster(ctx, c.nodes[0].addr)
		}
		cancel()
		if err != nil {
			c.close()
			tb.Fatalf("start %s: %v", id, err)
		}
	}
	if err := c.poll(20*time.Second, func() error {
		l := c.leader()
		if l == nil {
			return errors.New("no leader")
		}
		for _, nd := range c.nodes {
			if st := nd.n.Status(); st.LeaderID != l.id || len(st.Members) != len(c.nodes) {
				return fmt.Errorf("%s: leader %q, %d members", nd.id, st.LeaderID, len(st.Members))
			}
		}
		return nil
	}); err != nil {
		c.close()
		tb.Fatalf("cluster never settled: %v", err)
	}
	return c
}

// close stops every node, consensus before its ledger (as node.Close).
func (c *lcCluster) close() {
	for _, nd := range c.nodes {
		if err := nd.n.Close(); err != nil {
			c.tb.Errorf("close %s: %v", nd.id, err)
		}
		if err := nd.store.Close(); err != nil {
			c.tb.Errorf("close ledger %s: %v", nd.id, err)
		}
	}
	c.nodes = nil
}

func (c *lcCluster) leader() *lcNode {
	for _, nd := range c.nodes {
		if nd.n.IsLeader() {
			return nd
		}
	}
	return nil
}

// poll calls f until it returns nil or d passes (no sleeps in tight loops:
// a short ticker between attempts).
func (c *lcCluster) poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// propose proposes every command concurrently from conc goroutines on
// leader and returns the decoded results (any error is fatal).
func (c *lcCluster) proposeAll(ctx context.Context, leader *lcNode, cmds [][]byte, conc int) []*ledger.Result {
	c.tb.Helper()
	out := make([]*ledger.Result, len(cmds))
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(cmds) {
					return
				}
				raw, err := leader.n.Propose(ctx, cmds[i])
				if err != nil {
					errs <- fmt.Errorf("propose %d: %w", i, err)
					return
				}
				r, err := ledger.DecodeResult(raw)
				if err != nil {
					errs <- fmt.Errorf("result %d: %w", i, err)
					return
				}
				out[i] = r
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.tb.Fatal(err)
	}
	return out
}

// lcEncode encodes a ledger command or fails the benchmark.
func lcEncode(tb testing.TB, cmd ledger.Command) []byte {
	tb.Helper()
	b, err := ledger.Encode(cmd)
	if err != nil {
		tb.Fatalf("encode %T: %v", cmd, err)
	}
	return b
}

// lcT0 is the benchmark's calendar origin.
var lcT0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func lcUSD(v string) money.Amount { return money.MustNew(v, "USD") }

// setup writes the network, two members and a trunk through the leader.
func (c *lcCluster) setup(ctx context.Context, leader *lcNode) {
	c.tb.Helper()
	cmds := [][]byte{
		lcEncode(c.tb, ledger.SetNetwork{Network: ledger.Network{ID: "purple", Name: "Purple", Currency: "USD"}}),
		lcEncode(c.tb, ledger.PutMember{Member: ledger.Member{ID: "a", Name: "Carrier A", SellDeckID: "sell-a"}}),
		lcEncode(c.tb, ledger.PutMember{Member: ledger.Member{ID: "b", Name: "Carrier B", BuyDeckID: "buy-b"}}),
		lcEncode(c.tb, ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b1", MemberID: "b", Address: "[192.0.2.9]:5060", Protocol: "udp"}}),
		lcEncode(c.tb, ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b2", MemberID: "b", Address: "[192.0.2.10]:5060", Protocol: "udp"}}),
	}
	for i, cmd := range cmds { // in order: the members before their trunks
		raw, err := leader.n.Propose(ctx, cmd)
		if err != nil {
			c.tb.Fatalf("setup %d: %v", i, err)
		}
		r, err := ledger.DecodeResult(raw)
		if err != nil || r.Code != ledger.OK {
			c.tb.Fatalf("setup %d: %+v %v", i, r, err)
		}
	}
}

// authorizeCmd is the Authorize of call i, as the OSP server proposes it
// for a route with two trunk destinations.
func lcAuthorize(i int) ledger.Authorize {
	s := strconv.Itoa(i)
	return ledger.Authorize{At: lcT0.Add(time.Duration(i) * time.Millisecond), SourceMember: "a", MessageID: "msg-" + s,
		CallID: "call-" + s + "@192.0.2.7", Calling: "15550001234", Called: "12125550100",
		Destinations: []ledger.Destination{
			{Kind: ledger.DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060", SellDeckID: "sell-a", BuyDeckID: "buy-b"},
			{Kind: ledger.DestTrunk, ID: "b2", Address: "[192.0.2.10]:5060", SellDeckID: "sell-a", BuyDeckID: "buy-b"},
		}, TimeLimit: 7200}
}

// lcUsage is the rated source-role usage report of call i (transaction tx).
func lcUsage(tx uint64, i int) ledger.RecordUsage {
	connect := lcT0.Add(time.Duration(i) * time.Millisecond)
	s := strconv.Itoa(i)
	return ledger.RecordUsage{At: connect.Add(2 * time.Minute), TransactionID: tx, Role: ledger.RoleSource, ComponentID: s,
		Reporter: ledger.MemberAccount("a"), Calling: "15550001234", Called: "12125550100", CallID: "call-" + s + "@192.0.2.7",
		Start: connect.Add(-3 * time.Second), Connect: connect, End: connect.Add(95 * time.Second), DurationMillis: 95123, TerminationCause: 16,
		Rating: &ledger.Rating{BillableSeconds: 96, Sell: lcUSD("0.0160"), SellCounterparty: ledger.MemberAccount("a"), SellDeckID: "sell-a",
			Buy: lcUSD("0.0128"), BuyCounterparty: ledger.MemberAccount("b"), BuyDeckID: "buy-b"}}
}

// seedUsages authorises n new calls through the leader (256 concurrent
// proposers, so group commit packs them) and returns the encoded usage
// report of each, ready to propose.
func (c *lcCluster) seedUsages(ctx context.Context, leader *lcNode, n int) [][]byte {
	c.tb.Helper()
	first := c.seq
	c.seq += n
	auths := make([][]byte, n)
	for j := range auths {
		auths[j] = lcEncode(c.tb, lcAuthorize(first+j))
	}
	res := c.proposeAll(ctx, leader, auths, min(256, max(n, 1)))
	usages := make([][]byte, n)
	for j, r := range res {
		if r.Code != ledger.OK || r.TransactionID == 0 {
			c.tb.Fatalf("authorize %d: %s %s", first+j, r.Code, r.Message)
		}
		usages[j] = lcEncode(c.tb, lcUsage(r.TransactionID, first+j))
	}
	return usages
}

// converge waits until the three ledgers have applied the same index and
// then compares their digests.
func (c *lcCluster) converge() error {
	if err := c.poll(30*time.Second, func() error {
		want := c.nodes[0].store.AppliedIndex()
		for _, nd := range c.nodes[1:] {
			if got := nd.store.AppliedIndex(); got != want {
				return fmt.Errorf("applied index %s=%d %s=%d", c.nodes[0].id, want, nd.id, got)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	var first [32]byte
	for i, nd := range c.nodes {
		d, err := nd.store.Digest()
		if err != nil {
			return fmt.Errorf("digest %s: %w", nd.id, err)
		}
		if i == 0 {
			first = d
		} else if d != first {
			return fmt.Errorf("digest %s %x != %s %x at index %d", nd.id, d[:8], c.nodes[0].id, first[:8], nd.store.AppliedIndex())
		}
	}
	return nil
}
