package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/osp"
)

// Input checks made before anything is proposed. A request whose answer
// cannot be carried by a token must be refused before its transaction is
// committed: refused after, it is answered 500, which the OSP toolkit
// retries on every service point, committing another transaction each time.

// checkAuthInput returns a refusal when the request's calling number or
// Call-ID cannot go into a token (osp's token-format limits), nil when it
// can. The called number is checked by e164.Parse (489, authInput).
//   - calling number empty, over osp.MaxTokenNumberBytes (197) or with
//     whitespace or a control byte: 428, calling number invalid;
//   - a Call-ID over osp.MaxTokenCallIDBytes (147, the most a token's i=
//     line carries): 400, bad request. No OSP code names the Call-ID; 400
//     is a client error the toolkit does not retry elsewhere.
func checkAuthInput(req *osp.AuthorizationRequest) *refusal {
	if err := osp.CheckTokenNumber(req.Calling()); err != nil {
		return &refusal{osp.StatusCallingInvalid, "calling number: " + err.Error()}
	}
	for _, cid := range req.CallIDs {
		if err := osp.CheckTokenCallID(cid); err != nil {
			return &refusal{osp.StatusBadRequest, fmt.Sprintf("call-id of %d bytes: at most %d", len(cid), osp.MaxTokenCallIDBytes)}
		}
	}
	return nil
}

// maxUsageSeconds bounds a reported call duration (Amount × Increment):
// no call lasts a week, and a bound keeps the product far from int64
// overflow. A larger report is refused 400, not recorded.
const maxUsageSeconds = 7 * 24 * 3600

// durationMillis turns a UsageDetail Amount (decimal seconds, e.g.
// "30.000") times Increment into whole milliseconds, rounding a finer
// fraction up. No floats: "30.0005" is 30001 ms. Increment 0 is an absent
// Increment element (osp decodes it as 0) and counts as 1; a negative
// Increment, a malformed Amount or a product over maxUsageSeconds is an
// error. The product is bounded before it is computed, so it never
// overflows.
func durationMillis(amount string, increment int) (int64, error) {
	amount = strings.TrimSpace(amount)
	if increment < 0 {
		return 0, fmt.Errorf("usage increment %d is negative", increment)
	}
	if amount == "" {
		return 0, nil
	}
	if increment == 0 {
		increment = 1
	}
	whole, frac, _ := strings.Cut(amount, ".")
	if whole == "" {
		whole = "0"
	}
	if !allDigits(whole) {
		// A sign of any spelling ("-0.5", "+3", "-0") is refused: ParseInt
		// reads "-0" as 0, and "-0.5" used to be recorded as half a second.
		return 0, fmt.Errorf("usage amount %q is not a duration in seconds", amount)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("usage amount %q is not a duration in seconds", amount)
	}
	if w > maxUsageSeconds || int64(increment) > maxUsageSeconds || w*int64(increment) > maxUsageSeconds {
		// w and increment are each at most maxUsageSeconds here before
		// the product is taken, so the product cannot overflow.
		return 0, fmt.Errorf("usage of %s s × %d is over %d s", amount, increment, maxUsageSeconds)
	}
	var ms int64
	roundUp := false // a non-zero digit below the millisecond
	for i := 0; i < len(frac); i++ {
		// Every digit is checked, also past the millisecond: stopping at
		// the first one that rounds up let ".0001E2" through as 1 ms.
		ch := frac[i]
		if ch < '0' || ch > '9' {
			return 0, fmt.Errorf("usage amount %q is not a duration in seconds", amount)
		}
		if i < 3 {
			ms = ms*10 + int64(ch-'0')
		} else if ch != '0' {
			roundUp = true
		}
	}
	if roundUp {
		ms++
	}
	for i := len(frac); i < 3; i++ {
		ms *= 10
	}
	d := (w*1000 + ms) * int64(increment)
	if d > maxUsageSeconds*1000 {
		return 0, fmt.Errorf("usage of %s s × %d is over %d s", amount, increment, maxUsageSeconds)
	}
	return d, nil
}

// acceptsUnsigned reports whether member m is configured for unsigned
// (text or XML) tokens: only then may it present one for validation. A
// signed token's signature proves we issued it; an unsigned one proves
// nothing, and anyone could forge it for any call.
func acceptsUnsigned(m *ledger.Member) bool {
	return m != nil && (m.TokenKind == ledger.TokenText || m.TokenKind == ledger.TokenXML)
}

// checkClaims compares a verified token's claims with the ledger's
// transaction: the TransactionId must exist (read with a barrier, so a
// follower sees a transaction authorised a moment ago) and the token's
// numbers and Call-ID must be the ones the transaction authorised. It
// returns the OSP status of the first mismatch and a description, or
// StatusOK. For a signed token this is defence in depth; for an unsigned
// one it is the only check that ties the token to a call we authorised.
func (rq *request) checkClaims(ctx context.Context, cl *osp.TokenClaims) (int, string) {
	if cl.TransactionID == 0 {
		return osp.StatusBadRequest, "token carries no transaction id"
	}
	t := rq.transaction(ctx, cl.TransactionID)
	if t == nil {
		return osp.StatusBadRequest, fmt.Sprintf("transaction %d unknown", cl.TransactionID)
	}
	if cl.Calling != t.Calling {
		return osp.StatusCallingInvalid, "token calling number differs from the transaction's"
	}
	calledOK := normalizeNumber(cl.Called) == t.Called
	for _, d := range t.Destinations {
		calledOK = calledOK || d.Called != "" && cl.Called == d.Called
	}
	if !calledOK {
		return osp.StatusDestinationInfoInvalid, "token called number differs from the transaction's"
	}
	want := t.CallID
	if want == "" {
		want = osp.TokenCallIDUndefined
	}
	if string(cl.CallID) != want {
		return osp.StatusDestinationInfoInvalid, "token call-id differs from the transaction's"
	}
	return osp.StatusOK, ""
}

func allDigits(s string) bool { return s != "" && e164.IsDigits(s) }

// usageTimesSane bounds the times a usage report may carry: none before
// 2000 (no OSP call of ours is older; year 0 used to be stored wrapped to
// 1753) and none more than a day after now (a clock that far ahead is not
// reporting a call that happened).
func usageTimesSane(now time.Time, ts ...time.Time) bool {
	lo, hi := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(24*time.Hour)
	for _, t := range ts {
		if !t.IsZero() && (t.Before(lo) || t.After(hi)) {
			return false
		}
	}
	return true
}

// overLimitGrace is added to a transaction's time limit before usage
// counts as over it: the proxy enforces the limit from its own connect
// time, and signalling between the two sides takes a moment.
const overLimitGrace = 60 * time.Second

// billableMillis returns the duration to rate for usage of durMs reported
// against transaction t: durMs, capped at t's time limit (paid never
// exceeds what was authorised), and whether the report is over the limit
// by more than overLimitGrace (flagged OverLimit for review: a proxy
// enforcing the limit from its own connect time runs a little over, a
// report far over it is suspect). The reported duration is recorded as
// reported. No time limit (0): no cap.
func billableMillis(t *ledger.Transaction, durMs int64) (int64, bool) {
	if t == nil || t.TimeLimit == 0 {
		return durMs, false
	}
	limit := int64(t.TimeLimit) * 1000
	if durMs > limit {
		return limit, durMs > limit+overLimitGrace.Milliseconds()
	}
	return durMs, false
}
