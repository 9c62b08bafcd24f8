package consensus

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The wrapper must keep the inner transport's optional interfaces: without
// WithPreVote raft silently turns pre-vote off, without WithClose it never
// closes the transport.
var (
	_ raft.WithPreVote = (*commitClampTransport)(nil)
	_ raft.WithClose   = (*commitClampTransport)(nil)
)

func TestClampLeaderCommit(t *testing.T) {
	entries := func(idx ...uint64) []*raft.Log {
		var ls []*raft.Log
		for _, i := range idx {
			ls = append(ls, &raft.Log{Index: i, Term: 3})
		}
		return ls
	}
	for _, tc := range []struct {
		name         string
		prev, commit uint64
		entries      []*raft.Log
		want         uint64
	}{
		// The failure TestPartitionedMinorityRefusesWrites found: the
		// follower holds a stale 7; the request proves only up to 6.
		{"backed-off request short of the leader's commit", 5, 8, entries(6), 6},
		{"empty request behind the leader's commit", 6, 8, nil, 6},
		{"request reaching past the commit", 6, 8, entries(7, 8, 9), 8},
		{"request ending at the commit", 6, 8, entries(7, 8), 8},
		{"caught-up empty request", 9, 9, nil, 9},
		{"heartbeat (no commit index)", 0, 0, nil, 0},
		{"first entries of a log", 0, 2, entries(1, 2), 2},
		{"nothing proved at all", 0, 5, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &raft.AppendEntriesRequest{PrevLogEntry: tc.prev, LeaderCommitIndex: tc.commit, Entries: tc.entries}
			clampLeaderCommit(req)
			if req.LeaderCommitIndex != tc.want {
				t.Fatalf("LeaderCommitIndex = %d, want %d", req.LeaderCommitIndex, tc.want)
			}
		})
	}
}

// TestCommitClampTransportOverTCP sends AppendEntries through a real
// NetworkTransport pair and checks what raft would receive on the wrapped end.
func TestCommitClampTransportOverTCP(t *testing.T) {
	server, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 10*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := newCommitClampTransport(server)
	defer wrapped.Close()
	client, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 10*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	got := make(chan uint64, 1)
	go func() {
		for rpc := range wrapped.Consumer() {
			req := rpc.Command.(*raft.AppendEntriesRequest)
			got <- req.LeaderCommitIndex
			rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, Success: true}, nil)
			return
		}
	}()
	req := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax},
		Term:              3,
		PrevLogEntry:      5,
		PrevLogTerm:       2,
		Entries:           []*raft.Log{{Index: 6, Term: 2, Type: raft.LogCommand, Data: []byte("x")}},
		LeaderCommitIndex: 8,
	}
	var resp raft.AppendEntriesResponse
	if err := client.AppendEntries("b", wrapped.LocalAddr(), req, &resp); err != nil {
		t.Fatalf("AppendEntries: %v", err)
	}
	if !resp.Success {
		t.Fatal("response not delivered back through the wrapper")
	}
	if c := <-got; c != 6 {
		t.Fatalf("raft would see LeaderCommitIndex %d, want 6 (the request's last entry)", c)
	}
}
