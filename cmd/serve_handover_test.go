package cmd

import (
	"context"
	"testing"
	"time"

	"github.com/ospnode/ospnode/testnet"
)

// TestStoppingLeaderHandsOver: a stopping leader (serve's SIGTERM path)
// hands leadership to another voter, so the members see no election; a
// follower stops without touching leadership.
func TestStoppingLeaderHandsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nw, err := testnet.StartNetwork(ctx, testnet.NetworkSpec{Nodes: 3}, testnet.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	li := nw.LeaderIndex()
	if li < 0 {
		t.Fatal("no leader")
	}
	leader := nw.Node(li)
	follower := nw.Node((li + 1) % 3)
	handOver(follower, nil)
	if got := nw.LeaderIndex(); got != li {
		t.Fatalf("a follower's stop moved leadership from node %d to %d", li, got)
	}
	before := leader.Consensus().Status()
	handOver(leader, nil)
	if st := leader.Consensus().Status(); st.State == "Leader" {
		t.Fatal("the old leader still leads after the hand-over")
	}
	// It learns the new leader from its first heartbeat.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond) // polling interval
	defer tick.Stop()
	for {
		st := leader.Consensus().Status()
		if st.LeaderID != "" && st.LeaderID != before.ID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hand-over the old leader is %s and sees leader %q", st.State, st.LeaderID)
		}
		<-tick.C
	}
}
