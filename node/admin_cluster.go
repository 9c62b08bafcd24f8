package node

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
)

// adminStatus is GET /v1/status: the consensus view plus the ledger's
// counters and network identity.
type adminStatus struct {
	consensus.Status
	NodeID  string             `json:"node_id"`
	OSPURL  string             `json:"osp_url,omitempty"`
	Network *ledger.Network    `json:"network,omitempty"`
	Ledger  ledger.Stats       `json:"ledger"`
	Gens    ledger.Generations `json:"generations"`
}

func (n *Node) adminClusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/status", n.adminHandle(func(r *http.Request) (int, any, error) {
		st := adminStatus{Status: n.cons.Status(), NodeID: n.cfg.NodeID, OSPURL: n.OSPURL(), Gens: n.store.Generations()}
		if nw, err := n.store.Network(); err == nil {
			st.Network = &nw
		}
		var err error
		if st.Ledger, err = n.store.Stats(); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, st, nil
	}))
	mux.HandleFunc("POST /v1/cluster/join", n.adminHandle(func(r *http.Request) (int, any, error) {
		var body struct {
			ID   string `json:"id"`
			Addr string `json:"addr"`
		}
		if err := readJSON(nil, r, &body); err != nil {
			return 0, nil, err
		}
		if body.ID == "" || body.Addr == "" {
			return 0, nil, badRequest("join needs id and addr")
		}
		return n.clusterOp(r, func() error { return n.cons.Join(r.Context(), body.ID, body.Addr) })
	}))
	mux.HandleFunc("POST /v1/cluster/remove", n.adminHandle(func(r *http.Request) (int, any, error) {
		var body struct {
			ID string `json:"id"`
		}
		if err := readJSON(nil, r, &body); err != nil {
			return 0, nil, err
		}
		if body.ID == "" {
			return 0, nil, badRequest("remove needs id")
		}
		if !n.isMember(body.ID) {
			return 0, nil, notFound("server %q is not a cluster member", body.ID)
		}
		return n.clusterOp(r, func() error { return n.cons.Remove(r.Context(), body.ID) })
	}))
	mux.HandleFunc("POST /v1/cluster/transfer", n.adminHandle(func(r *http.Request) (int, any, error) {
		var body struct {
			ID string `json:"id"`
		}
		if err := readJSON(nil, r, &body); err != nil {
			return 0, nil, err
		}
		if body.ID != "" && !n.isMember(body.ID) {
			return 0, nil, notFound("server %q is not a cluster member", body.ID)
		}
		return n.clusterOp(r, func() error { return n.cons.TransferLeadership(r.Context(), body.ID) })
	}))
}

func (n *Node) isMember(id string) bool {
	for _, m := range n.cons.Status().Members {
		if m.ID == id {
			return true
		}
	}
	return false
}

// clusterOp runs a membership change and answers with the new status. A
// consensus error that is not about availability (an unknown server, a
// refused change) is a 409.
func (n *Node) clusterOp(r *http.Request, op func() error) (int, any, error) {
	if err := op(); err != nil {
		if unavailable(err) || errors.Is(err, consensus.ErrNoQuorum) {
			return 0, nil, err
		}
		if strings.Contains(err.Error(), "unknown server") {
			return 0, nil, &httpError{http.StatusNotFound, err}
		}
		return 0, nil, &httpError{http.StatusConflict, fmt.Errorf("cluster change refused: %w", err)}
	}
	return http.StatusOK, n.cons.Status(), nil
}
