package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement/fraud"
)

// Fraud control's admin endpoints (fraud.go, ledger/fraud.go):
//
//	GET  /v1/fraud/events[?limit=]              this node's findings, newest first, and the detector's size
//	GET  /v1/fraud/blocks[?all=true&member=]     the ledger's blocks (active only unless all)   (barrier)
//	POST /v1/fraud/blocks {member, prefix, calling, reason, by}        an operator's block → 201
//	POST /v1/fraud/blocks/{id}/release {reason, by}                     → 200; 404 unknown; 409 already released
//	GET  /v1/fraud/config                        the rules and ranges in force
//
// Only administrators reach these (the admin token or an admin client
// certificate): a member's credentials open the OSP listener, not this
// one, so a member cannot release its own block. `by` is who the caller
// says it is; the ledger records it after how it authenticated
// ("admin-token (alice)").

// FraudEvents is GET /v1/fraud/events.
type FraudEvents struct {
	Node   string       `json:"node"`
	Stats  fraud.Stats  `json:"stats"`
	Events []FraudEvent `json:"events"`
}

// FraudBlockRequest is the body of POST /v1/fraud/blocks.
type FraudBlockRequest struct {
	Member  string `json:"member,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Calling string `json:"calling,omitempty"`
	Reason  string `json:"reason"`
	By      string `json:"by,omitempty"`
}

// FraudReleaseRequest is the body of POST /v1/fraud/blocks/{id}/release.
type FraudReleaseRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// FraudConfigView is GET /v1/fraud/config: the detector's configuration
// as in force (defaults with the network's settings over them).
type FraudConfigView struct {
	Disabled          bool            `json:"disabled"`
	DestinationDigits int             `json:"destination_digits"`
	Learn             string          `json:"learn"`
	MaxKeys           int             `json:"max_keys"`
	MaxCalls          int             `json:"max_calls"`
	Rules             []FraudRuleView `json:"rules"`
	Ranges            []fraud.Range   `json:"high_risk_ranges"`
}

// FraudRuleView is one rule of FraudConfigView (durations as Go text).
type FraudRuleView struct {
	Rule            fraud.Rule   `json:"rule"`
	Action          fraud.Action `json:"action"`
	Window          string       `json:"window"`
	BaselineWindows int          `json:"baseline_windows,omitempty"`
	MinCalls        int          `json:"min_calls,omitempty"`
	Factor          json.Number  `json:"factor,omitempty"` // exact decimal text of the permille setting (3.5)
	ShortSeconds    int          `json:"short_seconds,omitempty"`
	Ratio           json.Number  `json:"ratio,omitempty"`       // 0.7
	MinMinutes      json.Number  `json:"min_minutes,omitempty"` // 120, from the setting in seconds
	NewFor          string       `json:"new_for,omitempty"`
	MaxConcurrent   int          `json:"max_concurrent,omitempty"`
}

func (n *Node) adminFraudRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/fraud/events", n.adminHandle(func(r *http.Request) (int, any, error) {
		limit, err := intParam(r, "limit", 100, 1, maxFraudEvents)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, FraudEvents{Node: n.cfg.NodeID, Stats: n.fraud.det.Stats(), Events: n.fraud.Events(limit)}, nil
	}))
	mux.HandleFunc("GET /v1/fraud/blocks", n.adminHandle(func(r *http.Request) (int, any, error) {
		all, err := boolParam(r, "all")
		if err != nil {
			return 0, nil, err
		}
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		bs, err := n.store.FraudBlocks()
		if err != nil {
			return 0, nil, err
		}
		member := r.URL.Query().Get("member")
		out := make([]ledger.FraudBlockRecord, 0, len(bs))
		for _, b := range bs {
			if (all || b.Active()) && (member == "" || b.Member == member) {
				out = append(out, b)
			}
		}
		return http.StatusOK, out, nil
	}))
	mux.HandleFunc("POST /v1/fraud/blocks", n.adminHandle(func(r *http.Request) (int, any, error) {
		var req FraudBlockRequest
		if err := readJSON(nil, r, &req); err != nil {
			return 0, nil, err
		}
		cmd, err := n.operatorBlock(r, &req)
		if err != nil {
			return 0, nil, err
		}
		res, err := n.adminApply(r, cmd)
		if err != nil {
			return 0, nil, err
		}
		if res.Code == ledger.Duplicate {
			return 0, nil, conflict("an active block of the same scope exists: %s", res.Message)
		}
		if err := n.adminBarrier(r); err != nil { // this replica may be behind the leader that applied it
			return 0, nil, err
		}
		rec, err := n.store.FraudBlockByID(cmd.ID)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, rec, nil
	}))
	mux.HandleFunc("POST /v1/fraud/blocks/{id}/release", n.adminHandle(func(r *http.Request) (int, any, error) {
		var req FraudReleaseRequest
		if err := readJSON(nil, r, &req); err != nil {
			return 0, nil, err
		}
		if strings.TrimSpace(req.Reason) == "" {
			return 0, nil, badRequest("reason is required: the release is audited")
		}
		id := r.PathValue("id")
		res, err := n.adminApply(r, &ledger.FraudRelease{ID: id, At: n.now().UTC(), By: adminIdentity(n, r, req.By), Reason: req.Reason})
		if err != nil {
			return 0, nil, err
		}
		if res.Code == ledger.Duplicate {
			return 0, nil, conflict("fraud block %s was already released", id)
		}
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		rec, err := n.store.FraudBlockByID(id)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, rec, nil
	}))
	mux.HandleFunc("GET /v1/fraud/config", n.adminHandle(func(r *http.Request) (int, any, error) {
		return http.StatusOK, fraudConfigView(n.fraud.det.Config()), nil
	}))
}

// operatorBlock checks an operator's block request and builds its command.
func (n *Node) operatorBlock(r *http.Request, req *FraudBlockRequest) (*ledger.FraudBlock, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return nil, badRequest("reason is required: the block is audited")
	}
	prefix := strings.TrimPrefix(strings.TrimSpace(req.Prefix), "+")
	calling := ""
	if req.Calling != "" {
		if calling = callingDigits(req.Calling); calling == "" || len(calling) > 15 {
			return nil, badRequest("calling %q is not an E.164 number (1 to 15 digits)", req.Calling)
		}
	}
	if req.Member != "" {
		if _, err := n.store.Member(req.Member); isNotFound(err) {
			return nil, notFound("member %q not found", req.Member)
		} else if err != nil {
			return nil, err
		}
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	return &ledger.FraudBlock{ID: "op-" + hex.EncodeToString(raw[:]), At: n.now().UTC(), Member: req.Member, Prefix: prefix,
		Calling: calling, Rule: "operator", By: adminIdentity(n, r, req.By), Reason: req.Reason}, nil
}

// adminIdentity says how the request authenticated, with the name the
// caller gave (at most 64 bytes in all: the ledger's bound).
func adminIdentity(n *Node, r *http.Request, claimed string) string {
	id := "admin-token"
	if r.TLS != nil && n.trust.adminCert(r.TLS) {
		id = "admin-cert:" + r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	if claimed = strings.TrimSpace(claimed); claimed != "" {
		id += " (" + claimed + ")"
	}
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

func fraudConfigView(c fraud.Config) FraudConfigView {
	out := FraudConfigView{Disabled: c.Disabled, DestinationDigits: c.DestinationDigits, Learn: c.Learn.String(),
		MaxKeys: c.MaxKeys, MaxCalls: c.MaxCalls, Ranges: c.Ranges}
	for _, r := range fraud.Rules {
		rc := c.Rule(r)
		v := FraudRuleView{Rule: r, Action: rc.Action, Window: rc.Window.String(), BaselineWindows: rc.BaselineWindows,
			MinCalls: rc.MinCalls, Factor: viewDecimal(rc.FactorPermille, fraud.Permille), ShortSeconds: rc.ShortSeconds,
			Ratio: viewDecimal(rc.RatioPermille, fraud.Permille), MinMinutes: viewDecimal(rc.MinSeconds, 60),
			MaxConcurrent: rc.MaxConcurrent}
		if rc.NewFor > 0 {
			v.NewFor = rc.NewFor.String()
		}
		out.Rules = append(out.Rules, v)
	}
	return out
}

// viewDecimal is v/scale as a JSON number in decimal ("" for 0: omitted).
func viewDecimal(v, scale int64) json.Number {
	if v == 0 {
		return ""
	}
	return json.Number(fraud.Decimal(v, scale))
}
