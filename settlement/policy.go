package settlement

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement/quality"
)

// Policy is a network's routing and credit policy for authorisations: the
// minimum margin a candidate must leave, the longest time limit a call may
// get and the seed of the weighted load sharing. Build it once, when the
// configuration is loaded, with NewPolicy, which validates it; the methods
// then only compute (no parsing on the request path). The zero Policy has
// no margin, no time limit and seed 0. A Policy is an immutable value, safe
// for concurrent use.
type Policy struct {
	margin    apd.Decimal // the minimum margin, a fraction of the sell rate
	marginTxt string      // as configured, for explanations
	keep      apd.Decimal // 1 − margin: the most a candidate may cost, as a fraction of sell
	maxLimit  int
	seed      uint64
}

// NewPolicy parses and validates a policy. minMargin is a decimal fraction
// of the sell rate ("0.05": keep at least 5 %; "" means "0": never below
// cost; a negative margin allows selling below cost); it must be a finite
// number below 1 (a margin of 1 or more would drop every priced
// candidate: "5" meaning 5 % is the usual slip). maxTimeLimit is the
// longest time limit in seconds (> 0). seed seeds the weighted choice among
// equal candidates (Seed). Errors wrap ErrBadInput and name the value.
func NewPolicy(minMargin string, maxTimeLimit int, seed uint64) (Policy, error) {
	if minMargin == "" {
		minMargin = "0"
	}
	f, _, err := apd.NewFromString(minMargin)
	if err != nil || f.Form != apd.Finite {
		return Policy{}, fmt.Errorf("%w: minimum margin %q is not a decimal number (a fraction of the sell rate, e.g. 0.05)", ErrBadInput, minMargin)
	}
	if f.Cmp(apd.New(1, 0)) >= 0 {
		return Policy{}, fmt.Errorf("%w: minimum margin %q must be below 1 (a fraction of the sell rate: 0.05 is 5%%)", ErrBadInput, minMargin)
	}
	if maxTimeLimit <= 0 {
		return Policy{}, fmt.Errorf("%w: maximum time limit %d s must be positive", ErrBadInput, maxTimeLimit)
	}
	p := Policy{marginTxt: minMargin, maxLimit: maxTimeLimit, seed: seed}
	p.margin.Set(f)
	if _, err := apd.BaseContext.WithPrecision(34).Sub(&p.keep, apd.New(1, 0), f); err != nil {
		return Policy{}, fmt.Errorf("%w: minimum margin %q: %w", ErrBadInput, minMargin, err)
	}
	return p, nil
}

// MinMargin returns the minimum margin as configured (for explanations).
func (p *Policy) MinMargin() string {
	if p.marginTxt == "" {
		return "0"
	}
	return p.marginTxt
}

// MaxTimeLimit returns the longest time limit a call may get, in seconds.
func (p *Policy) MaxTimeLimit() int { return p.maxLimit }

// MarginOK reports whether buying at cost leaves at least the minimum
// margin when selling at sell: cost ≤ sell × (1 − margin). Amounts in
// different currencies are not compared (there is no exchange rate here):
// they pass.
func (p *Policy) MarginOK(sell, cost money.Amount) bool {
	if sell.Currency() != cost.Currency() {
		return true
	}
	keep := &p.keep
	if p.marginTxt == "" { // zero Policy: margin 0
		keep = apd.New(1, 0)
	}
	limit, err := sell.Mul(keep)
	if err != nil {
		return true
	}
	c, err := cost.Cmp(limit)
	return err == nil && c <= 0
}

// Seed returns the seed of one request's weighted choice among equal
// candidates: the policy's seed mixed with (member, messageId, Call-ID),
// so a retry of a request sees the same order and different calls spread
// by weight.
func (p *Policy) Seed(member, messageID, callID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	h.Write([]byte{0})
	h.Write([]byte(messageID))
	h.Write([]byte{0})
	h.Write([]byte(callID))
	return p.seed ^ h.Sum64()
}

// MinuteCost rates a one-minute call to number on r at at: the figure
// least-cost routing and the credit policy compare (connect fee and
// increments included). false when r is nil or does not rate number.
func MinuteCost(r *Rater, number string, at time.Time) (money.Amount, bool) {
	if r == nil {
		return money.Amount{}, false
	}
	rt, err := r.Rate(number, at, 60_000)
	if err != nil {
		return money.Amount{}, false
	}
	return rt.Amount, true
}

// Translate applies a route candidate's number translation: strip leading
// digits (all of them when strip ≥ len(num)), then prepend add.
func Translate(num string, strip int, add string) string {
	if strip > 0 {
		if strip >= len(num) {
			num = ""
		} else {
			num = num[strip:]
		}
	}
	return add + num
}

// Candidate is one route candidate as Policy.Rank sees it, resolved by the
// caller: a trunk of another member or a peer network, what the route and
// the trunk say about its preference, and what it charges us.
type Candidate struct {
	// ID names the candidate (a trunk or peer id); Peer tells which. Among
	// candidates of equal priority and cost, the weighted order starts
	// from their IDs' order.
	ID   string
	Peer bool
	// RoutePriority and RouteWeight are the route candidate's;
	// TrunkPriority and TrunkWeight the trunk's (0 and 1 for a peer).
	// Priority = RoutePriority × 1000 + TrunkPriority, lower first; weight
	// = RouteWeight × TrunkWeight (negative counts as 0, a trunk weight
	// below 1 as 1).
	RoutePriority, RouteWeight int
	TrunkPriority, TrunkWeight int
	// BuyDeck says whether the terminating party (member or peer) has a
	// buy deck; Cost, when Rated, is what it charges for one minute of the
	// call (MinuteCost on the translated number). A candidate with a deck
	// that does not rate the call is dropped: we could not settle it. One
	// without a deck has an unknown cost and is ranked after the priced
	// ones of its priority.
	BuyDeck bool
	Cost    money.Amount
	Rated   bool
	// Quality is the route-quality verdict on the candidate
	// (settlement/quality): demoted candidates rank after the healthy
	// ones, excluded ones are dropped, a probed one ranks first.
	Quality quality.Verdict
}

// Priority returns c's ranking priority: RoutePriority × 1000 +
// TrunkPriority.
func (c *Candidate) Priority() int { return c.RoutePriority*1000 + c.TrunkPriority }

// Weight returns c's load-sharing weight: RouteWeight × TrunkWeight, with a
// negative route weight counted as 0 and a trunk weight below 1 as 1.
func (c *Candidate) Weight() int { return max(c.RouteWeight, 0) * max(c.TrunkWeight, 1) }

// Keep reports whether c may be offered on a call sold at sell (sellOK:
// sell is known): its deck must rate the call, the cost must leave the
// minimum margin, and route quality must not exclude it (unless this call
// probes it). Why is the reason when it may not ("no rate", "margin",
// "quality").
func (p *Policy) Keep(c *Candidate, sell money.Amount, sellOK bool) (ok bool, why string) {
	if ok, why := p.keepCost(c, sell, sellOK); !ok {
		return ok, why
	}
	if c.Quality.Exclude && !c.Quality.Probe {
		return false, "quality"
	}
	return true, ""
}

func (p *Policy) keepCost(c *Candidate, sell money.Amount, sellOK bool) (ok bool, why string) {
	if !c.BuyDeck {
		return true, ""
	}
	if !c.Rated {
		return false, "no rate"
	}
	if sellOK && !p.MarginOK(sell, c.Cost) {
		return false, "margin"
	}
	return true, ""
}

// Rank returns the indexes of the candidates that may be offered on a call
// sold at sell (Keep), best first: route quality's tier (a probed
// candidate, then the healthy ones, then the demoted ones), priority
// ascending, then cost ascending (least cost routing; unknown cost last),
// then a weighted random order among equals drawn from seed (RankRoutes;
// see Seed). When route quality excludes every candidate that is
// otherwise usable, they are offered demoted rather than none: a route
// whose carriers are all poor still completes calls. cands is not
// modified. Safe for concurrent use.
func (p *Policy) Rank(cands []Candidate, sell money.Amount, sellOK bool, seed uint64) []int {
	opts := make([]RouteOption, 0, len(cands))
	idx := make(map[string]int, len(cands))
	keepExcluded := true
	for i := range cands {
		if ok, _ := p.Keep(&cands[i], sell, sellOK); ok {
			keepExcluded = false
			break
		}
	}
	for i := range cands {
		c := &cands[i]
		if ok, why := p.Keep(c, sell, sellOK); !ok && (why != "quality" || !keepExcluded) {
			continue
		}
		key := c.ID + "\x00" + strconv.Itoa(len(opts))
		if c.Peer {
			key = "peer\x00" + key
		}
		var cost money.Amount
		if c.BuyDeck {
			cost = weightedCost(c)
		}
		idx[key] = i
		tier := 1
		switch {
		case c.Quality.Demoted && c.Quality.Probe:
			tier = 0
		case c.Quality.Demoted:
			tier = 2
		}
		opts = append(opts, RouteOption{Key: key, Tier: tier, Priority: c.Priority(), Weight: c.Weight(), Cost: cost})
	}
	RankRoutes(opts, seed)
	out := make([]int, 0, len(opts))
	for _, o := range opts {
		out = append(out, idx[o.Key])
	}
	return out
}

// weightedCost is c's cost for ranking: its rate, or, when route quality
// weights cost by ASR (Candidate.Quality.Weighted), its rate per answered
// call: rate × 10000 ÷ ASR in basis points (the factor truncated to six
// decimals, in integers, so every node ranks alike); a candidate that answered none of its window
// sorts with the unknown costs, after every priced one of its priority.
// The amount only orders; nothing is charged at it.
func weightedCost(c *Candidate) money.Amount {
	if !c.Quality.Weighted || c.Cost.Currency() == "" {
		return c.Cost
	}
	if c.Quality.ASRBps <= 0 {
		return money.Amount{}
	}
	f := apd.New(10000*1_000_000/int64(c.Quality.ASRBps), -6)
	w, err := c.Cost.Mul(f)
	if err != nil {
		return c.Cost
	}
	return w
}

// CallCredit is the credit side of one call's plan: what a member selling
// at Sell (the cost of one minute of this call on its sell deck, SellOK
// when known) may be granted. Deck, Called and At rate the hold of a whole
// call; Max is the policy's longest time limit.
type CallCredit struct {
	Max    int
	Sell   money.Amount
	SellOK bool
	Deck   *Rater
	Called string
	At     time.Time
}

// Credit returns the credit side of a call to called at at, sold on deck
// (nil: no sell deck, or it does not load): its one-minute cost and the
// policy's maximum time limit.
func (p *Policy) Credit(deck *Rater, called string, at time.Time) CallCredit {
	sell, ok := MinuteCost(deck, called, at)
	return CallCredit{Max: p.maxLimit, Sell: sell, SellOK: ok, Deck: deck, Called: called, At: at}
}

// Grant returns what a call may use given the member's remaining credit
// (credit limit − posted balance − credit held by its calls in progress):
// the time limit, reduced to what rem buys (SecondsFor), and the credit it
// holds for that limit (HoldAmount; zero, no currency, when the call is
// refused or its sell rate is unknown, in another currency or not
// positive). A refused call has limit 0 and a reason.
func (c CallCredit) Grant(rem money.Amount) (limit int, hold money.Amount, why string) {
	limit, why = SecondsFor(rem, c.Sell, c.SellOK, c.Max)
	if limit <= 0 || !c.SellOK || c.Sell.Currency() != rem.Currency() || c.Sell.Sign() <= 0 {
		return limit, money.Amount{}, why
	}
	return limit, HoldAmount(c.Deck, c.Called, c.At, c.Sell, limit), ""
}

// SecondsFor returns limit reduced to what rem buys at sell, the cost of
// one minute: floor(rem × 60 / sell). 0 and a reason when rem is not
// positive or buys less than a second; limit when sell is unknown, in
// another currency or not positive.
func SecondsFor(rem, sell money.Amount, sellOK bool, limit int) (int, string) {
	if rem.Sign() <= 0 {
		return 0, "credit limit reached"
	}
	if !sellOK || sell.Currency() != rem.Currency() || sell.Sign() <= 0 {
		return limit, ""
	}
	var num, q apd.Decimal
	ctx := apd.BaseContext.WithPrecision(34)
	if _, err := ctx.Mul(&num, rem.Decimal(), apd.New(60, 0)); err != nil {
		return limit, ""
	}
	if _, err := ctx.QuoInteger(&q, &num, sell.Decimal()); err != nil {
		return limit, ""
	}
	s, err := q.Int64()
	if err != nil || s > int64(limit) {
		return limit, ""
	}
	if s <= 0 {
		return 0, "credit limit reached"
	}
	return int(s), ""
}

// HoldAmount is the credit a call of limit seconds to called holds: deck's
// rating of that call at at (connect fee and increments included, exact
// decimals). Should the deck not rate it (it rated the one-minute cost
// sell a moment ago, so only if it changed in between, or deck is nil),
// the whole minutes started × sell: exact, and never less.
func HoldAmount(deck *Rater, called string, at time.Time, sell money.Amount, limit int) money.Amount {
	if deck != nil {
		if rt, err := deck.Rate(called, at, int64(limit)*1000); err == nil && rt.Amount.Currency() == sell.Currency() {
			return rt.Amount
		}
	}
	a, err := sell.Mul(apd.New(int64((limit+59)/60), 0))
	if err != nil {
		return sell
	}
	return a
}
