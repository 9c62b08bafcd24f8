package federation

import (
	"slices"

	"github.com/ospnode/ospnode/osp"
)

// Candidate is one destination of a merged answer: a local one or one a
// peer returned.
type Candidate struct {
	Destination osp.Destination
	// Peer is the peer it came from ("" for a local destination), and
	// UpstreamTransactionID that peer's TransactionId.
	Peer                  string
	UpstreamTransactionID uint64
	// Index is the candidate's position in Merge's input: local
	// destinations first, then each upstream result's in order. A policy
	// may use it as the tie-breaker (Merge's sort is stable anyway).
	Index int
}

// Policy orders candidates as slices.SortStableFunc does: negative when a
// comes first. node passes its routing policy (LCR by buy rate, route
// priority, weights, …); nil keeps the input order.
type Policy func(a, b *Candidate) int

// Merge combines local destinations with the upstream results (nil entries
// and results without destinations are skipped), orders them by policy,
// drops a destination whose signal address an earlier one already has,
// keeps at most max (0: all), and caps each destination's time limit at
// ourLimit: the time limit a member gets is min(our credit-based limit,
// every limit along the chain). ourLimit 0 means no limit of ours; then a
// destination keeps its own (the upstream's). Tokens are never modified;
// only UsageDetail is replaced when the limit changes. The inputs are not
// modified. Safe for concurrent use.
func Merge(local []osp.Destination, upstream []*ForwardResult, policy Policy, max int, ourLimit int) []Candidate {
	var all []Candidate
	for _, d := range local {
		all = append(all, Candidate{Destination: d, Index: len(all)})
	}
	for _, r := range upstream {
		if r == nil {
			continue
		}
		for _, d := range r.Destinations {
			all = append(all, Candidate{Destination: d, Peer: r.Peer, UpstreamTransactionID: r.TransactionID, Index: len(all)})
		}
	}
	if policy != nil {
		slices.SortStableFunc(all, func(a, b Candidate) int { return policy(&a, &b) })
	}
	out := make([]Candidate, 0, len(all))
	seen := make(map[string]bool, len(all))
	for _, c := range all {
		if max > 0 && len(out) == max {
			break
		}
		if seen[c.Destination.SignalAddress] {
			continue
		}
		seen[c.Destination.SignalAddress] = true
		c.Destination.UsageDetail = capLimit(c.Destination.UsageDetail, ourLimit)
		out = append(out, c)
	}
	return out
}

// ChainLimit returns min(ours, theirs) over positive values, 0 when both
// are 0 (no limit).
func ChainLimit(ours, theirs int) int {
	switch {
	case ours <= 0:
		return max(theirs, 0)
	case theirs <= 0:
		return ours
	}
	return min(ours, theirs)
}

// capLimit returns the UsageDetail carrying min(ud's limit, ours).
func capLimit(ud *osp.UsageDetail, ours int) *osp.UsageDetail {
	theirs := 0
	if ud != nil {
		d := osp.Destination{UsageDetail: ud}
		theirs = d.TimeLimit()
	}
	l := ChainLimit(ours, theirs)
	if l == theirs || l == 0 {
		return ud
	}
	return osp.TimeLimit(l)
}

// Upstream reports where the merged answer cands sends calls: the single
// peer (and its TransactionId) when every candidate came from that one
// peer, ok false otherwise (local only, empty, or mixed).
//
// The ledger cascades a transaction's usage to ONE UpstreamPeer, and the
// source's usage does not say which destination carried the call; an
// answer that mixes local trunks with a peer's destinations (or two peers)
// would cascade usage upstream for calls that never went there. node
// should therefore stamp Authorize.UpstreamPeer/UpstreamTransactionID only
// when ok, and build its answer from one source at a time (see DESIGN.md,
// "One upstream per transaction").
func Upstream(cands []Candidate) (peer string, txID uint64, ok bool) {
	if len(cands) == 0 {
		return "", 0, false
	}
	peer, txID = cands[0].Peer, cands[0].UpstreamTransactionID
	if peer == "" {
		return "", 0, false
	}
	for _, c := range cands[1:] {
		if c.Peer != peer || c.UpstreamTransactionID != txID {
			return "", 0, false
		}
	}
	return peer, txID, true
}
