package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// openTrio opens a bootstrapped node and two nodes joined to it, with no
// network, and waits until all three are members.
func openTrio(t *testing.T) []*Node {
	t.Helper()
	var nodes []*Node
	for i, id := range []string{"n1", "n2", "n3"} {
		c := testConfig(t, id)
		if i == 0 {
			c.Bootstrap = true
		} else {
			c.Join = []string{nodes[0].ClusterAddr()}
		}
		nodes = append(nodes, openNode(t, c))
	}
	waitFor(t, "three members", 20*time.Second, func() bool {
		return len(nodes[0].Consensus().Status().Members) == 3
	})
	return nodes
}

// TestConcurrentNetworkInit: two `network init`s of different networks,
// released together on two nodes of a 3-node cluster. Exactly one wins;
// the other gets a 409 naming the winner, and every node holds the
// winner. Through the admin API the loser may be refused by the node's
// read or by the ledger; the "proposals" case sends both CreateNetwork
// commands past any read, so that the ledger's apply alone arbitrates.
func TestConcurrentNetworkInit(t *testing.T) {
	nets := [2]ledger.Network{{ID: "PURPLE", Name: "Purple", Currency: "USD"}, {ID: "YELLOW", Name: "Yellow", Currency: "EUR"}}
	for _, tc := range []struct {
		name string
		// init runs network i's init at node n: created, or the error.
		init func(t *testing.T, n *Node, net ledger.Network) (bool, error)
	}{
		{"admin API", func(t *testing.T, n *Node, net ledger.Network) (bool, error) {
			body, _ := json.Marshal(net)
			code, b := admReq(t, n, n.AdminToken(), http.MethodPost, "/v1/network", string(body))
			switch code {
			case http.StatusCreated:
				return true, nil
			case http.StatusConflict:
				return false, fmt.Errorf("409 %s", admErr(t, b))
			}
			return false, fmt.Errorf("HTTP %d: %s", code, b)
		}},
		{"proposals", func(t *testing.T, n *Node, net ledger.Network) (bool, error) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			for {
				res, err := n.Propose(ctx, ledger.CreateNetwork{Network: net})
				if err != nil {
					select { // no leader yet: the proposal is retried
					case <-ctx.Done():
						return false, err
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				if res.Code == ledger.OK {
					return true, nil
				}
				return false, fmt.Errorf("409 %s: %s", res.Code, res.Message)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := openTrio(t)
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				created [2]bool
				errs    [2]error
			)
			for i := range nets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					created[i], errs[i] = tc.init(t, nodes[1+i], nets[i])
				}()
			}
			close(start)
			wg.Wait()
			if created[0] == created[1] {
				t.Fatalf("created %v, errors %v: want exactly one init to win", created, errs)
			}
			win, lose := 0, 1
			if created[1] {
				win, lose = 1, 0
			}
			if errs[win] != nil {
				t.Fatalf("winner %s: %v", nets[win].ID, errs[win])
			}
			if msg := fmt.Sprint(errs[lose]); !strings.HasPrefix(msg, "409 ") || !strings.Contains(msg, "already initialised") || !strings.Contains(msg, nets[win].ID) {
				t.Fatalf("loser %s: %v, want a 409 naming %s", nets[lose].ID, errs[lose], nets[win].ID)
			}
			waitFor(t, "every node to hold the winner", 20*time.Second, func() bool {
				for _, n := range nodes {
					if got, err := n.Store().Network(); err != nil || !reflect.DeepEqual(got, nets[win]) {
						return false
					}
				}
				return true
			})
		})
	}
}
