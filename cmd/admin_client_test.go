package cmd

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
)

// openTestNode starts a bootstrapped, demo-seeded node on loopback
// ephemeral ports under t.TempDir and closes it at the end of t. With
// keep, the caller closes it (to audit its data directory offline).
func openTestNode(t *testing.T) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := node.Open(ctx, testNodeConfig(t))
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func testNodeConfig(t *testing.T) node.Config {
	return node.Config{
		NodeID: "n1", DataDir: filepath.Join(t.TempDir(), "n1"),
		OSPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0",
		Bootstrap: true, Demo: true,
		Raft: node.RaftTimeouts{HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
			LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
			ApplyTimeout: 3 * time.Second, LeaderWait: 2 * time.Second},
		Batch:  consensus.BatchConfig{MaxWait: 200 * time.Microsecond},
		Logger: slog.New(slog.DiscardHandler),
	}
}

// adminCLI runs `ospnode CMD SUB --node URL --token T ARGS...` (flags must
// come before positional arguments in urfave/cli).
func adminCLI(t *testing.T, n *node.Node, cmd []string, args ...string) (int, string, string) {
	t.Helper()
	all := append(append([]string{}, cmd...), "--node", n.AdminURL(), "--token", n.AdminToken())
	return run(t, append(all, args...)...)
}

// mustCLI is adminCLI that fails the test on a non-zero exit.
func mustCLI(t *testing.T, n *node.Node, cmd []string, args ...string) string {
	t.Helper()
	code, out, errb := adminCLI(t, n, cmd, args...)
	if code != 0 {
		t.Fatalf("ospnode %s %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(cmd, " "), strings.Join(args, " "), code, out, errb)
	}
	return out
}

func TestAdminClientErrors(t *testing.T) {
	n := openTestNode(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no token", []string{"member", "list", "--node", n.AdminURL()}, 2, "no admin token"},
		{"wrong token", []string{"member", "list", "--node", n.AdminURL(), "--token", "nope"}, 1, "401"},
		{"bad node url", []string{"member", "list", "--node", "ftp://x", "--token", "t"}, 2, "--node"},
		{"unreachable", []string{"member", "list", "--node", "http://" + closedAddr(t), "--token", "t"}, 1, "cannot reach"},
		{"bad output", []string{"member", "list", "--node", n.AdminURL(), "--token", "t", "--output", "xml"}, 2, "--output"},
		{"missing id", []string{"member", "show", "--node", n.AdminURL(), "--token", n.AdminToken()}, 2, "member ID"},
		{"unknown member", []string{"member", "show", "--node", n.AdminURL(), "--token", n.AdminToken(), "nobody"}, 1, "404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errb := run(t, c.args...)
			if code != c.code || !strings.Contains(errb, c.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, c.code, errb, c.msg)
			}
		})
	}
	// The token may come from the environment and from a file.
	t.Setenv("OSPNODE_ADMIN_TOKEN", n.AdminToken())
	t.Setenv("OSPNODE_NODE", n.AdminURL())
	if code, out, errb := run(t, "cluster", "status"); code != 0 || !strings.Contains(out, "leader (this node)") {
		t.Fatalf("cluster status from env: %d %s %s", code, out, errb)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// ospClient returns an OSP client of the node whose connections come from
// the loopback address src (the demo identifies carrier-a by 127.0.0.1,
// carrier-b by 127.0.0.3).
func ospClient(t *testing.T, n *node.Node, src string) *osp.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := osp.NewClient(osp.ClientConfig{ServicePoints: []string{n.OSPURL()},
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	testCalling = "14048724799"
	testCalled  = "16785551234"
)

// authorise sends an AuthorizationRequest from carrier-a and returns the
// response component.
func authorise(t *testing.T, n *node.Node, msgID, callID string) *osp.AuthorizationResponse {
	t.Helper()
	m := &osp.Message{MessageID: msgID, Random: "1", Components: []osp.Component{{ID: msgID + "0",
		AuthorizationRequest: &osp.AuthorizationRequest{
			Timestamp: time.Now().UTC().Truncate(time.Second),
			CallIDs:   []osp.Binary{osp.Binary(callID)},
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: testCalling}},
				DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.1]:5060"}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: testCalled}},
			},
			Service:             &osp.Service{},
			MaximumDestinations: 5,
		}}}}
	resp, err := ospClient(t, n, "127.0.0.1").Do(context.Background(), m)
	if err != nil {
		t.Fatalf("authorise: %v", err)
	}
	if len(resp.Components) != 1 || resp.Components[0].AuthorizationResponse == nil {
		t.Fatalf("no AuthorizationResponse: %+v", resp)
	}
	return resp.Components[0].AuthorizationResponse
}

// reportUsage sends a UsageIndication from src in role.
func reportUsage(t *testing.T, n *node.Node, src, msgID, comp, role string, tx uint64, callID, seconds string) {
	t.Helper()
	m := &osp.Message{MessageID: msgID, Components: []osp.Component{{ID: comp,
		UsageIndication: &osp.UsageIndication{
			Timestamp: time.Now().UTC().Truncate(time.Second), Role: role, TransactionID: tx, CallID: osp.Binary(callID),
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: testCalling}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: testCalled}},
			},
			UsageDetail: &osp.UsageDetail{Amount: seconds, Increment: 1, Unit: osp.UnitSeconds},
		}}}}
	resp, err := ospClient(t, n, src).Do(context.Background(), m)
	if err != nil {
		t.Fatalf("usage: %v", err)
	}
	if st := resp.Components[0].UsageConfirmation.Status; st.Code != osp.StatusOK {
		t.Fatalf("usage refused: %+v", st)
	}
}

// callFlow authorises a call carrier-a → carrier-b and reports usage from
// both sides; it returns the transaction id.
func callFlow(t *testing.T, n *node.Node, msg, callID, seconds string) uint64 {
	t.Helper()
	r := authorise(t, n, msg, callID)
	if r.Status.Code != osp.StatusOK {
		t.Fatalf("authorise: %+v", r.Status)
	}
	reportUsage(t, n, "127.0.0.1", msg+"s", "1", osp.RoleSource, r.TransactionID, callID, seconds)
	reportUsage(t, n, "127.0.0.3", msg+"d", "2", osp.RoleDestination, r.TransactionID, callID, seconds)
	return r.TransactionID
}
