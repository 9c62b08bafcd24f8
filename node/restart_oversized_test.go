package node

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestRestartReplaysOversizedAuthorize: an Authorize with a 40 KiB Call-ID
// that reaches the log (proposed directly, past the OSP handler's own
// check) is an Invalid result, not a panic of the Raft apply goroutine;
// restarting the node with its ledger file removed replays the whole log,
// that entry included, and the node serves again.
func TestRestartReplaysOversizedAuthorize(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	n := openNode(t, cfg)
	a := client("127.0.0.1")
	authResponse(t, exchange(t, a, n.OSPURL(), authRequest("1", "before", called, 5)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Propose(ctx, &ledger.Authorize{At: time.Now().UTC(), SourceMember: DemoCarrierA, MessageID: "huge",
		CallID: strings.Repeat("c", 40<<10), Called: called,
		Destinations: []ledger.Destination{{Kind: ledger.DestTrunk, ID: "b-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != ledger.Invalid {
		t.Fatalf("result %s (%s), want Invalid", res.Code, res.Message)
	}
	applied, path := n.Store().AppliedIndex(), n.Store().Path()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	n2 := openNode(t, cfg)
	waitFor(t, "the replay", 20*time.Second, func() bool { return n2.Store().AppliedIndex() >= applied })
	again := authResponse(t, exchange(t, a, n2.OSPURL(), authRequest("2", "after", called, 5)))
	if again.Status.Code != osp.StatusOK {
		t.Fatalf("after the replay: %+v", again.Status)
	}
}
