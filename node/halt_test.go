package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
)

// appendRogueEntry appends a command entry holding data to the Raft log of a
// closed node, in the term of its last entry (as a fake leader would have),
// and returns its index.
func appendRogueEntry(t *testing.T, dataDir string, data []byte) uint64 {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dataDir, "raft", "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := store.GetLog(last, &l); err != nil {
		t.Fatal(err)
	}
	if err := store.StoreLog(&raft.Log{Index: last + 1, Term: l.Term, Type: raft.LogCommand, Data: data}); err != nil {
		t.Fatal(err)
	}
	return last + 1
}

// checkHalted asserts n's halted status: the index in Halted, /healthz 503
// naming the entry on both listeners, OSP 503, proposals unavailable.
func checkHalted(t *testing.T, n *Node, index uint64) {
	t.Helper()
	waitFor(t, n.ID()+" to halt", 10*time.Second, func() bool { return n.Consensus().Halted() != nil })
	if h := n.Consensus().Halted(); h.Index != index || !errors.Is(h, consensus.ErrHalted) {
		t.Fatalf("halted at %d (%v), want %d", h.Index, h, index)
	}
	if st := n.Consensus().Status(); !strings.Contains(st.Halted, fmt.Sprintf("entry %d", index)) {
		t.Fatalf("status.Halted = %q", st.Halted)
	}
	want := fmt.Sprintf("at entry %d", index)
	for _, url := range []string{n.AdminURL() + "/healthz", strings.TrimSuffix(n.OSPURL(), "/osp") + "/healthz"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := readAll(resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), want) {
			t.Fatalf("%s = %d %q, want 503 naming %q", url, resp.StatusCode, body, want)
		}
	}
	resp, err := http.Get(n.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := readAll(resp)
	resp.Body.Close()
	if !strings.Contains(string(metrics), fmt.Sprintf("ospnode_raft_halted_index %d\n", index)) {
		t.Fatalf("/metrics lacks ospnode_raft_halted_index %d", index)
	}
	if code, body, _ := post(t, client(""), n.OSPURL(), mustEncode(t, authRequest("h1", "halt-1", called, 5))); code != http.StatusServiceUnavailable {
		t.Fatalf("OSP on a halted node: %d %s, want 503", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, ledger.RevokeCert{Serial: "ab", At: time.Now().UTC(), Reason: "x"}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, consensus.ErrHalted) {
		t.Fatalf("propose on a halted node: %v, want ErrUnavailable and ErrHalted", err)
	}
}

// TestHaltedNodeRestartsWithoutPanic: a log entry the node cannot apply —
// an envelope of an unknown version (what a rogue leader once appended), or
// a ledger command of an unknown type — stops the node from applying its
// log instead of panicking: unhealthy, the index named on /healthz, OSP
// answered 503, nothing proposed, and the same after each restart on the
// same log (no crash loop). Nothing after the entry is applied.
func TestHaltedNodeRestartsWithoutPanic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(t *testing.T, n *Node, cfg Config) uint64
	}{
		{"entry of an unknown envelope version", func(t *testing.T, n *Node, cfg Config) uint64 {
			n.Close()
			return appendRogueEntry(t, cfg.DataDir, []byte{0xff, 0xff, 0xff})
		}},
		{"ledger command of an unknown type, proposed live", func(t *testing.T, n *Node, cfg Config) uint64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := n.Consensus().Propose(ctx, []byte{0x7e, 1, 2, 3}); !errors.Is(err, consensus.ErrHalted) {
				t.Fatalf("propose unknown type: %v, want ErrHalted", err)
			}
			h := n.Consensus().Halted()
			checkHalted(t, n, h.Index)
			n.Close()
			return h.Index
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "n1")
			cfg.Bootstrap, cfg.Demo = true, true
			n := openNode(t, cfg)
			applied := n.Store().AppliedIndex()
			index := tc.inject(t, n, cfg)
			cfg.Demo = false
			for restart := range 2 {
				n, err := Open(context.Background(), cfg)
				if err != nil {
					t.Fatalf("restart %d: %v", restart, err)
				}
				checkHalted(t, n, index)
				if got := n.Store().AppliedIndex(); got >= index || got < applied {
					t.Errorf("restart %d: ledger applied index %d, want in [%d, %d)", restart, got, applied, index)
				}
				n.Close()
			}
		})
	}
}

// TestHaltedNodeRejoins is the operator path of node/DESIGN.md: a follower
// whose own log holds an entry no other node has (appended by a rogue
// leader) halts on it while the cluster keeps committing; the operator
// removes it, moves its data directory aside and starts it again with
// --join: it catches up from the leader and converges.
func TestHaltedNodeRejoins(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "pki")
	var cfgs []Config
	var nodes []*Node
	for i, id := range []string{"n1", "n2", "n3"} {
		c := testConfig(t, id)
		c.PKIDir = pkiDir
		if i == 0 {
			c.Bootstrap, c.Demo = true, true
		} else {
			c.Join = []string{nodes[0].ClusterAddr()}
		}
		cfgs = append(cfgs, c)
		nodes = append(nodes, openNode(t, c))
	}
	n1 := nodes[0]
	waitFor(t, "three members", 20*time.Second, func() bool {
		_, err := nodes[2].Store().Network()
		return err == nil && len(n1.Consensus().Status().Members) == 3
	})
	if !n1.Consensus().IsLeader() {
		t.Skip("n1 lost leadership during setup")
	}

	cfg3 := cfgs[2]
	cfg3.ClusterAddr = nodes[2].ClusterAddr() // the address the others know
	cfg3.Join = nil                           // restarted with its data: no join
	nodes[2].Close()
	bad := appendRogueEntry(t, cfgs[2].DataDir, []byte{0xfe, 0})
	for i := range 3 {
		mustPropose(t, n1, ledger.RevokeCert{Serial: fmt.Sprintf("c0ffee%d", i), At: time.Now().UTC(), Reason: "test"})
	}
	n3, err := Open(context.Background(), cfg3)
	if err != nil {
		t.Fatal(err)
	}
	defer n3.Close()
	checkHalted(t, n3, bad)
	mustPropose(t, n1, ledger.RevokeCert{Serial: "c0ffee9", At: time.Now().UTC(), Reason: "cluster still commits"})

	// The operator path: remove, move the data aside, rejoin.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.Consensus().Remove(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	n3.Close()
	if err := os.Rename(cfg3.DataDir, cfg3.DataDir+".halted"); err != nil {
		t.Fatal(err)
	}
	cfg3.Join = []string{n1.ClusterAddr()}
	n3 = openNode(t, cfg3)
	waitFor(t, "the rejoined n3 to converge", 20*time.Second, func() bool {
		if n3.Consensus().Halted() != nil || n3.Store().AppliedIndex() < n1.Store().AppliedIndex() {
			return false
		}
		d1, err1 := n1.Store().Digest()
		d3, err3 := n3.Store().Digest()
		return err1 == nil && err3 == nil && d1 == d3
	})
	if ok, err := n3.Store().IsRevoked("c0ffee9"); err != nil || !ok {
		t.Fatalf("rejoined n3 lacks the last commit: %v %v", ok, err)
	}
}
