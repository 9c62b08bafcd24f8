package node

import (
	"net/http"

	"github.com/ospnode/ospnode/ledger/money"
)

// MemberAdmission is GET /v1/members/{id}/admission: a member's limits and
// how much of them its calls in progress use, cluster-wide (the ledger's
// admission state, ledger/admission.go).
type MemberAdmission struct {
	Member          string `json:"member"`
	CallsInProgress int    `json:"calls_in_progress"`
	ConcurrentLimit int    `json:"concurrent_limit"`
	CPSLimit        int    `json:"cps_limit"`
	// CreditLimit, Balance (posted; what it owes when positive), Held
	// (credit held by its calls in progress) and Remaining (limit −
	// balance − held): empty without a credit limit.
	CreditLimit money.Amount `json:"credit_limit"`
	Balance     money.Amount `json:"balance"`
	Held        money.Amount `json:"held"`
	Remaining   money.Amount `json:"remaining"`
	// Index is the log index the figures are as of.
	Index uint64 `json:"index"`
}

func (n *Node) adminAdmissionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/members/{id}/admission", n.adminHandle(func(r *http.Request) (int, any, error) {
		id := r.PathValue("id")
		m, err := n.store.Member(id)
		if isNotFound(err) {
			return 0, nil, notFound("member %q not found", id)
		}
		if err != nil {
			return 0, nil, err
		}
		// A read barrier, then the pending entries committed to the file
		// that Admission reads: the figures include every call committed
		// before the request.
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		if err := n.store.Flush(); err != nil {
			return 0, nil, err
		}
		ad, err := n.store.Admission(m.ID, m.CreditLimit.Currency(), n.cfg.Clock())
		if err != nil {
			return 0, nil, err
		}
		out := MemberAdmission{Member: m.ID, CallsInProgress: ad.Calls, ConcurrentLimit: m.ConcurrentLimit,
			CPSLimit: m.CPSLimit, Index: ad.Index}
		if cl := m.CreditLimit; cl.Currency() != "" {
			out.CreditLimit, out.Balance, out.Held = cl, ad.Balance, ad.Held
			if out.Held.Currency() == "" {
				out.Held = money.Zero(cl.Currency())
			}
			rem, err := cl.Sub(ad.Balance)
			if err == nil && out.Held.Currency() == cl.Currency() {
				rem, err = rem.Sub(out.Held)
			}
			if err != nil {
				return 0, nil, err
			}
			out.Remaining = rem
		}
		return http.StatusOK, out, nil
	}))
}
