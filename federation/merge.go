package federation

import "github.com/ospnode/ospnode/osp"

// Offer returns the destinations of an upstream answer as we offer them
// to our member: in the upstream's order, without a destination whose
// signal address an earlier one already has, at most max (0: all), each
// time limit capped at ourLimit — the time limit a member gets is min(our
// credit-based limit, every limit along the chain); ourLimit 0 means no
// limit of ours, and a destination keeps the upstream's. Tokens are never
// modified; only UsageDetail is replaced when the limit changes. r is not
// modified. An answer comes from one upstream only (see DESIGN.md, "One
// upstream per transaction"), so there is nothing to merge across
// sources. Safe for concurrent use.
func (r *ForwardResult) Offer(max, ourLimit int) []osp.Destination {
	if r == nil {
		return nil
	}
	out := make([]osp.Destination, 0, len(r.Destinations))
	seen := make(map[string]bool, len(r.Destinations))
	for _, d := range r.Destinations {
		if max > 0 && len(out) == max {
			break
		}
		if seen[d.SignalAddress] {
			continue
		}
		seen[d.SignalAddress] = true
		d.UsageDetail = capLimit(d.UsageDetail, ourLimit)
		out = append(out, d)
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
