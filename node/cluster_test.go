package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/testnet"
)

type usageKey struct {
	tx        uint64
	role      ledger.Role
	component string
}

// TestClusterLeaderLoss serves calls on all three nodes, closes the leader
// in the middle of the traffic, and checks that every usage confirmed with
// a 2xx is on every surviving node exactly once and that the survivors
// converge to the same state digest.
func TestClusterLeaderLoss(t *testing.T) {
	nw := testnet.NewTestNetwork(t, testnet.NetworkSpec{Name: "cluster", Nodes: 3}, testnet.Options{})
	nodes := nw.Nodes()
	li, err := nw.WaitForLeader(stepCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	leader := nw.Node(li)
	a := client(testnet.CarrierASource)
	post := func(url string, m *osp.Message) (*osp.Message, bool) {
		body, err := osp.Encode(m)
		if err != nil {
			t.Error(err)
			return nil, false
		}
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := a.Do(req)
		if err != nil {
			return nil, false // the closed node: the toolkit moves to its next service point
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, false
		}
		if err := osp.CheckToolkitRules(out); err != nil {
			t.Errorf("rules: %v\n%s", err, out)
		}
		r, err := osp.Decode(out, osp.Limits{})
		if err != nil {
			t.Errorf("decode: %v", err)
			return nil, false
		}
		return r, true
	}

	// send tries the service points from start on, moving on after a
	// transport error or a 503, as the toolkit does.
	send := func(start int, m *osp.Message) (*osp.Message, bool) {
		for k := 0; k < 2*len(nodes); k++ {
			r, ok := post(nodes[(start+k)%len(nodes)].OSPURL(), m)
			if !ok {
				continue
			}
			if st, _ := r.Components[0].Status(); st.Code == osp.StatusUnavailable {
				continue
			}
			return r, true
		}
		return nil, false
	}

	const workers, calls = 3, 25
	var (
		mu        sync.Mutex
		confirmed []usageKey
		count     atomic.Int32
		closeOnce sync.Once
		killed    = make(chan error, 1)
		wg        sync.WaitGroup
	)
	kill := func() { killed <- nw.Kill(li) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				id := fmt.Sprintf("%d%03d", w+1, i)
				callID := "cluster-" + id
				r, ok := send(w+i, authRequest(id, callID, called, 5))
				if !ok {
					continue
				}
				ar := r.Components[0].AuthorizationResponse
				if ar == nil || ar.Status.Code != osp.StatusOK {
					continue // 503 while a new leader is elected
				}
				u := usageIndication("u"+id, "c"+id, osp.RoleSource, ar.TransactionID, callID, called, "42.500")
				r, ok = send(w+i+1, u) // usage reaches another node
				if !ok {
					continue
				}
				if st := r.Components[0].UsageConfirmation.Status; st.OK() {
					mu.Lock()
					confirmed = append(confirmed, usageKey{ar.TransactionID, ledger.RoleSource, "c" + id})
					mu.Unlock()
					if count.Add(1) == workers*calls/4 {
						closeOnce.Do(func() { go kill() })
					}
				} else if st.Code != osp.StatusUnavailable {
					t.Errorf("usage answered %+v", st)
				}
			}
		}()
	}
	wg.Wait()
	closeOnce.Do(kill)
	if err := <-killed; err != nil {
		t.Fatalf("kill the leader: %v", err)
	}
	var survivors []*node.Node
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	if len(confirmed) < workers*calls*3/4 {
		t.Errorf("only %d of %d usages confirmed", len(confirmed), workers*calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range survivors {
		if err := n.Consensus().Barrier(ctx); err != nil {
			t.Fatalf("%s barrier: %v", n.ID(), err)
		}
	}
	waitFor(t, "survivors to converge", 20*time.Second, func() bool {
		d0, err0 := survivors[0].Store().Digest()
		d1, err1 := survivors[1].Store().Digest()
		return err0 == nil && err1 == nil && d0 == d1
	})
	for _, n := range survivors {
		us, err := n.Store().ListUsage(ledger.UsageFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[usageKey]int{}
		for _, u := range us {
			seen[usageKey{u.TransactionID, u.Role, u.ComponentID}]++
		}
		for _, k := range confirmed {
			if seen[k] != 1 {
				t.Errorf("%s: confirmed usage %+v present %d times", n.ID(), k, seen[k])
			}
		}
		if rep, err := n.Store().Audit(); err != nil || !rep.OK {
			t.Errorf("%s audit: %+v %v", n.ID(), rep, err)
		}
	}
	t.Logf("%d usages confirmed across the leader loss", len(confirmed))
}
