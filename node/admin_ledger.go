package node

import (
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// AuditResult is the JSON form of ledger.AuditReport (the head hash in
// hex) that GET /v1/audit answers and `ospnode ledger audit` prints,
// online or offline.
type AuditResult struct {
	OK       bool     `json:"ok"`
	Postings uint64   `json:"postings"`
	Accounts int      `json:"accounts"`
	Head     string   `json:"head"`
	Problems []string `json:"problems,omitempty"`
	Applied  uint64   `json:"applied_index"`
}

// AuditJSON renders a ledger audit report as the admin API returns it;
// the CLI's offline audit prints the same shape.
func AuditJSON(rep ledger.AuditReport, applied uint64) AuditResult {
	return AuditResult{OK: rep.OK, Postings: rep.Postings, Accounts: rep.Accounts,
		Head: hex.EncodeToString(rep.Head[:]), Problems: rep.Problems, Applied: applied}
}

func (n *Node) adminLedgerRoutes(mux *http.ServeMux) {
	h := n.adminHandle
	mux.HandleFunc("GET /v1/balances", h(func(r *http.Request) (int, any, error) {
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		bs, err := n.store.Balances()
		if err != nil {
			return 0, nil, err
		}
		acct, cur := r.URL.Query().Get("account"), strings.ToUpper(r.URL.Query().Get("currency"))
		out := []ledger.Balance{}
		for _, b := range bs {
			if (acct == "" || b.Account == acct || strings.TrimPrefix(b.Account, "member:") == acct ||
				strings.TrimPrefix(b.Account, "peer:") == acct) && (cur == "" || b.Amount.Currency() == cur) {
				out = append(out, b)
			}
		}
		return http.StatusOK, out, nil
	}))
	mux.HandleFunc("GET /v1/audit", h(func(r *http.Request) (int, any, error) {
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		rep, err := n.store.Audit()
		if err != nil {
			return 0, nil, err
		}
		code := http.StatusOK
		if !rep.OK {
			code = http.StatusConflict // the report body lists the differences
		}
		return code, AuditJSON(rep, n.store.AppliedIndex()), nil
	}))
	mux.HandleFunc("GET /v1/periods", h(func(r *http.Request) (int, any, error) {
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		ps, err := n.store.Periods()
		return http.StatusOK, emptyIfNil(ps), err
	}))
	mux.HandleFunc("POST /v1/periods/close", h(func(r *http.Request) (int, any, error) {
		var body struct {
			ID  string `json:"id"`
			End string `json:"end"`
		}
		if err := readJSON(nil, r, &body); err != nil {
			return 0, nil, err
		}
		if strings.TrimSpace(body.ID) == "" {
			return 0, nil, badRequest("a period needs an id (e.g. 2026-11)")
		}
		end, err := parseAdminTime(body.End)
		if err != nil {
			return 0, nil, badRequest("end: %v", err)
		}
		now := n.now().UTC()
		if end.After(now) {
			return 0, nil, conflict("end %s is in the future: a period is closed after it ends", end.Format(time.RFC3339))
		}
		if _, err := n.adminApply(r, ledger.ClosePeriod{At: now, ID: body.ID, End: end}); err != nil {
			return 0, nil, err
		}
		ps, err := n.store.Periods()
		return http.StatusOK, emptyIfNil(ps), err
	}))
}
