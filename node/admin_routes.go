package node

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/quality"
)

// Route CSV columns (found by header name, any order and case; unknown
// columns are ignored). One line is one candidate of a prefix; the lines of
// one prefix together form its route. A line with blocked=true blocks the
// prefix (kind and id may then be empty).
//
//	prefix,kind,id,priority,weight,strip,add_prefix,blocked
//	44,trunk,b-1,0,2,0,,false
//	44,peer,YELLOW,1,1,0,,false
//	4470,,,,,,,true
const (
	routeColPrefix    = "prefix"
	routeColKind      = "kind"
	routeColID        = "id"
	routeColPriority  = "priority"
	routeColWeight    = "weight"
	routeColStrip     = "strip"
	routeColAddPrefix = "add_prefix"
	routeColBlocked   = "blocked"
)

// routeChunk is how many routes one PutRoutes command carries: a few
// thousand keep each Raft entry well under a megabyte.
const routeChunk = 2000

// routeImportResult answers POST /v1/routes/import.
type routeImportResult struct {
	Lines    int      `json:"lines"`
	Routes   int      `json:"routes"`
	Commands int      `json:"commands"`
	Replaced bool     `json:"replaced"`
	Warnings []string `json:"warnings,omitempty"`
}

func (n *Node) adminRouteRoutes(mux *http.ServeMux) {
	h := n.adminHandle
	mux.HandleFunc("POST /v1/routes/import", h(func(r *http.Request) (int, any, error) {
		replace, err := boolParam(r, "replace")
		if err != nil {
			return 0, nil, err
		}
		routes, lines, err := parseRouteCSV(http.MaxBytesReader(nil, r.Body, maxCSVBody))
		if err != nil {
			return 0, nil, err
		}
		res := routeImportResult{Lines: lines, Routes: len(routes), Replaced: replace, Warnings: n.routeWarnings(routes)}
		for i := 0; i < len(routes) || (i == 0 && replace); i += routeChunk {
			chunk := routes[i:min(i+routeChunk, len(routes))]
			if _, err := n.adminApply(r, ledger.PutRoutes{Routes: chunk, ReplaceAll: replace && i == 0}); err != nil {
				if res.Commands > 0 {
					err = fmt.Errorf("%w (after %d of %d routes were committed; re-run the import)", err, i, len(routes))
				}
				return 0, nil, err
			}
			res.Commands++
		}
		return http.StatusOK, res, nil
	}))
	mux.HandleFunc("GET /v1/routes", h(func(r *http.Request) (int, any, error) {
		limit, err := intParam(r, "limit", 1000, 1, 100000)
		if err != nil {
			return 0, nil, err
		}
		prefix := r.URL.Query().Get("prefix")
		var out []ledger.Route
		errStop := errors.New("stop")
		err = n.store.ForEachRoute(func(rt ledger.Route) error {
			if !strings.HasPrefix(rt.Prefix, prefix) {
				return nil
			}
			if len(out) == limit {
				return errStop
			}
			out = append(out, rt)
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return 0, nil, err
		}
		return http.StatusOK, emptyIfNil(out), nil
	}))
	mux.HandleFunc("PUT /v1/routes/{prefix}", h(func(r *http.Request) (int, any, error) {
		var rt ledger.Route
		if err := readJSON(nil, r, &rt); err != nil {
			return 0, nil, err
		}
		rt.Prefix = r.PathValue("prefix")
		if rt.Prefix != "" && !e164.IsDigits(rt.Prefix) {
			return 0, nil, badRequest("prefix %q: want E.164 digits", rt.Prefix)
		}
		if len(rt.Candidates) == 0 && !rt.Blocked {
			return 0, nil, badRequest("route %q: give candidates, or block it", rt.Prefix)
		}
		if err := checkRouteQuality(rt.Quality); err != nil {
			return 0, nil, err
		}
		if _, err := n.adminApply(r, ledger.PutRoutes{Routes: []ledger.Route{rt}}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, rt, nil
	}))
	mux.HandleFunc("DELETE /v1/routes/{prefix}", h(func(r *http.Request) (int, any, error) {
		if _, err := n.adminApply(r, ledger.RemoveRoute{Prefix: r.PathValue("prefix")}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"removed": r.PathValue("prefix")}, nil
	}))
	mux.HandleFunc("GET /v1/routes/lookup", h(func(r *http.Request) (int, any, error) {
		ex, err := n.explainRoute(r.URL.Query().Get("number"), r.URL.Query().Get("member"))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, ex, nil
	}))
}

// ParseRouteCSV is the route CSV reader of POST /v1/routes/import (the
// CLI's configuration files name route CSVs): the routes sorted by prefix,
// the number of lines, or an error naming every bad line and field.
func ParseRouteCSV(r io.Reader) ([]ledger.Route, int, error) { return parseRouteCSV(r) }

// parseRouteCSV reads and validates a whole route file. Any bad line
// rejects the file with a 400 naming every bad line and field (up to
// settlement.MaxListedErrors). Routes come back sorted by prefix, each
// with its candidates in file order.
func parseRouteCSV(body io.Reader) ([]ledger.Route, int, error) {
	cr := csv.NewReader(body)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if isTooLarge(err) {
			return nil, 0, err
		}
		return nil, 0, badRequest("route CSV: line 1: no header (%v)", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col[routeColPrefix]; !ok {
		return nil, 0, badRequest("route CSV: line 1: missing column %q (want %s)", routeColPrefix,
			strings.Join([]string{routeColPrefix, routeColKind, routeColID, routeColPriority, routeColWeight, routeColStrip, routeColAddPrefix, routeColBlocked}, ","))
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var problems []string
	omitted := 0
	bad := func(line int, field, value, why string) {
		if len(problems) < settlement.MaxListedErrors {
			problems = append(problems, fmt.Sprintf("line %d, field %s (%q): %s", line, field, value, why))
		} else {
			omitted++
		}
	}
	byPrefix := map[string]*ledger.Route{}
	lines := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if isTooLarge(err) {
				return nil, 0, err
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(pe.Line, "-", "", pe.Err.Error())
				continue
			}
			return nil, 0, badRequest("route CSV: %v", err)
		}
		line, _ := cr.FieldPos(0)
		lines++
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		prefix := strings.TrimPrefix(get(rec, routeColPrefix), "+")
		if len(prefix) > settlement.MaxPrefixDigits || !e164.IsDigits(prefix) {
			bad(line, routeColPrefix, prefix, fmt.Sprintf("want 0 to %d digits", settlement.MaxPrefixDigits))
			continue
		}
		blocked := false
		if s := get(rec, routeColBlocked); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				bad(line, routeColBlocked, s, "want true or false")
				continue
			}
			blocked = b
		}
		num := func(name string) int {
			s := get(rec, name)
			if s == "" {
				return 0
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > 1_000_000 {
				bad(line, name, s, "want a whole number 0..1000000")
				return -1
			}
			return v
		}
		c := ledger.RouteCandidate{Kind: strings.ToLower(get(rec, routeColKind)), ID: get(rec, routeColID),
			Priority: num(routeColPriority), Weight: num(routeColWeight), Strip: num(routeColStrip), AddPrefix: get(rec, routeColAddPrefix)}
		if c.Priority < 0 || c.Weight < 0 || c.Strip < 0 {
			continue
		}
		if !e164.IsDigits(c.AddPrefix) {
			bad(line, routeColAddPrefix, c.AddPrefix, "want digits")
			continue
		}
		rt := byPrefix[prefix]
		if rt == nil {
			rt = &ledger.Route{Prefix: prefix}
			byPrefix[prefix] = rt
		}
		if blocked {
			rt.Blocked = true
			if c.Kind == "" && c.ID == "" {
				continue
			}
		}
		switch c.Kind {
		case ledger.CandidateTrunk, ledger.CandidatePeer:
		default:
			bad(line, routeColKind, c.Kind, "want trunk or peer")
			continue
		}
		if c.ID == "" {
			bad(line, routeColID, c.ID, "the trunk or peer id is missing")
			continue
		}
		rt.Candidates = append(rt.Candidates, c)
	}
	if len(problems) > 0 {
		msg := "route CSV rejected, nothing imported:\n  " + strings.Join(problems, "\n  ")
		if omitted > 0 {
			msg += fmt.Sprintf("\n  … and %d more", omitted)
		}
		return nil, lines, badRequest("%s", msg)
	}
	out := make([]ledger.Route, 0, len(byPrefix))
	for _, rt := range byPrefix {
		out = append(out, *rt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out, lines, nil
}

// routeWarnings lists candidates that name a trunk or peer this ledger
// does not have (yet): not an error, since routes may be loaded first.
func (n *Node) routeWarnings(routes []ledger.Route) []string {
	var out []string
	seen := map[string]bool{}
	for _, rt := range routes {
		for _, c := range rt.Candidates {
			k := c.Kind + ":" + c.ID
			if seen[k] {
				continue
			}
			seen[k] = true
			var err error
			if c.Kind == ledger.CandidateTrunk {
				_, err = n.store.Trunk(c.ID)
			} else {
				_, err = n.store.Peer(c.ID)
			}
			if isNotFound(err) && len(out) < 20 {
				out = append(out, fmt.Sprintf("%s %q does not exist (yet): routes to it are skipped until it does", c.Kind, c.ID))
			}
		}
	}
	return out
}

// RouteExplanation answers GET /v1/routes/lookup: what the authorisation
// path would offer a member calling number, and why.
type RouteExplanation struct {
	Number        string        `json:"number"`
	Member        string        `json:"member,omitempty"`
	MatchedPrefix *string       `json:"matched_prefix"` // nil: no route
	Blocked       string        `json:"blocked,omitempty"`
	SellDeck      string        `json:"sell_deck,omitempty"`
	SellRate      *money.Amount `json:"sell_rate,omitempty"` // cost of a one-minute call to the member, connect fee included
	// SellPerMinute and SellConnectFee are the sell deck row's two prices
	// apart (SellRate adds them over the billing increments).
	SellPerMinute  *money.Amount      `json:"sell_per_minute,omitempty"`
	SellConnectFee *money.Amount      `json:"sell_connect_fee,omitempty"`
	MinMargin      string             `json:"min_margin"`
	Offered        []CandidateVerdict `json:"offered"`
	Excluded       []CandidateVerdict `json:"excluded"`
	Note           string             `json:"note,omitempty"`
	Route          *ledger.Route      `json:"route,omitempty"`
}

// CandidateVerdict is one route candidate with its economics.
type CandidateVerdict struct {
	Rank     int    `json:"rank,omitempty"` // 1-based order offered
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Member   string `json:"member,omitempty"`
	Address  string `json:"address,omitempty"`
	Called   string `json:"called,omitempty"` // after translation
	Priority int    `json:"priority"`         // route priority × 1000 + trunk priority (the order key)
	// RoutePriority is the route candidate's priority, as `route list`
	// shows it (p1); TrunkPriority the trunk's, which orders a route
	// priority's trunks among themselves.
	RoutePriority int           `json:"route_priority"`
	TrunkPriority int           `json:"trunk_priority,omitempty"`
	Weight        int           `json:"weight"`
	BuyDeck       string        `json:"buy_deck,omitempty"`
	BuyRate       *money.Amount `json:"buy_rate,omitempty"` // a one-minute call, connect fee included: what the terminator charges us
	// BuyPerMinute and BuyConnectFee are the buy deck row's two prices
	// apart; BuyNote says why there are none ("unknown (peer-rated)": a
	// peer without a buy deck of ours prices the call on its side).
	BuyPerMinute  *money.Amount `json:"buy_per_minute,omitempty"`
	BuyConnectFee *money.Amount `json:"buy_connect_fee,omitempty"`
	BuyNote       string        `json:"buy_note,omitempty"`
	Margin        *money.Amount `json:"margin,omitempty"` // sell − buy of a one-minute call
	Reason        string        `json:"reason,omitempty"` // why excluded
	// Quality explains a route-quality demotion or exclusion ("demoted:
	// ASR 12% < 30% over the last 200 attempts"); empty when the route
	// has no quality policy or the candidate is healthy.
	Quality string `json:"quality,omitempty"`
}

// BuyPeerRated is CandidateVerdict.BuyNote for a peer candidate whose
// price we do not know: no buy deck of ours rates calls to it.
const BuyPeerRated = "unknown (peer-rated)"

// explainRoute runs the authorisation path's own routing (the member's
// blocked prefixes, the route index, request.candidates with its margin
// policy and settlement.RankRoutes) and adds, for every candidate, its
// rates and, for the ones not offered, the reason.
func (n *Node) explainRoute(number, memberID string) (*RouteExplanation, error) {
	called := normalizeNumber(number)
	if called == "" {
		return nil, badRequest("number %q: want E.164 digits", number)
	}
	v, err := n.state.get()
	if err != nil {
		return nil, err
	}
	m := &ledger.Member{}
	if memberID != "" {
		mm := v.members[memberID]
		if mm == nil {
			return nil, notFound("member %q not found", memberID)
		}
		m = mm
	}
	rq := &request{n: n, v: v, msg: &osp.Message{MessageID: "route-lookup"}, now: n.now().UTC()}
	ex := &RouteExplanation{Number: called, Member: memberID, MinMargin: n.cfg.policy.MinMargin(),
		Offered: []CandidateVerdict{}, Excluded: []CandidateVerdict{}}
	if memberID != "" && m.Status != ledger.MemberActive {
		ex.Blocked = "member " + string(m.Status) + ": every authorisation is refused"
	}
	if bl := v.blocked[m.ID]; bl != nil {
		if _, p, ok := bl.Lookup(called); ok {
			ex.Blocked = "destination " + p + " blocked for this member"
		}
	}
	route, prefix, ok := v.routes.Lookup(called)
	if !ok {
		ex.Note = "no route matches " + called
		return ex, nil
	}
	ex.MatchedPrefix = &prefix
	ex.Route = route
	if route.Blocked && ex.Blocked == "" {
		ex.Blocked = "destination " + route.Prefix + " blocked"
	}
	sell, sellOK := rq.minuteCost(m.SellDeckID, called)
	ex.SellDeck = m.SellDeckID
	if sellOK {
		ex.SellRate = &sell
		ex.SellPerMinute, ex.SellConnectFee = rq.tariff(m.SellDeckID, called)
	}
	dests := rq.candidates(m, route, called, sell, sellOK, "")
	rank := map[string]int{}
	for i, d := range dests {
		rank[d.Kind+"\x00"+d.ID] = i + 1
	}
	for _, rc := range route.Candidates {
		cv := CandidateVerdict{Kind: rc.Kind, ID: rc.ID, Priority: rc.Priority * 1000, RoutePriority: rc.Priority, Weight: rc.Weight,
			Called: settlement.Translate(called, rc.Strip, rc.AddPrefix)}
		var tm *ledger.Member
		if rc.Kind == ledger.CandidateTrunk {
			if tr := v.trunks[rc.ID]; tr != nil {
				cv.Member, cv.Address = tr.MemberID, tr.Address
				cv.Priority += tr.Priority
				cv.TrunkPriority = tr.Priority
				cv.Weight = max(rc.Weight, 0) * max(tr.Weight, 1)
				tm = v.members[tr.MemberID]
			}
		}
		switch {
		case tm != nil:
			cv.BuyDeck = tm.BuyDeckID
		case rc.Kind == ledger.CandidatePeer:
			// Our agreement with the peer: the buy deck that rates what it
			// charges us. Without one the peer prices the call on its side.
			if p, ok := n.peerExists(rc.ID); ok && p.BuyDeckID != "" {
				cv.BuyDeck = p.BuyDeckID
			} else {
				cv.BuyNote = BuyPeerRated
			}
		}
		if cv.BuyDeck != "" {
			if c, ok := rq.minuteCost(cv.BuyDeck, cv.Called); ok {
				cv.BuyRate = &c
				cv.BuyPerMinute, cv.BuyConnectFee = rq.tariff(cv.BuyDeck, cv.Called)
				if sellOK {
					if mg, err := sell.Sub(c); err == nil {
						cv.Margin = &mg
					}
				}
			} else if rc.Kind == ledger.CandidatePeer {
				cv.BuyNote = "no rate in buy deck " + cv.BuyDeck
			}
		}
		qv := n.qualityVerdict(v, route, rc)
		if qv.Demoted {
			cv.Quality = qualityNote(qv)
		}
		if r, ok := rank[rc.Kind+"\x00"+rc.ID]; ok {
			delete(rank, rc.Kind+"\x00"+rc.ID) // a trunk listed twice is offered once
			if ex.Blocked == "" {
				cv.Rank = r
				ex.Offered = append(ex.Offered, cv)
				continue
			}
			cv.Reason = ex.Blocked
		} else if qv.Exclude && !qv.Probe && v.trunks[rc.ID] != nil {
			cv.Reason = cv.Quality
		} else {
			cv.Reason = exclusionReason(rc, v, m, tm, cv, sellOK, n, sell)
		}
		ex.Excluded = append(ex.Excluded, cv)
	}
	sort.SliceStable(ex.Offered, func(i, j int) bool { return ex.Offered[i].Rank < ex.Offered[j].Rank })
	if len(ex.Offered) > 1 {
		ex.Note = fmt.Sprintf("order: priority, then least cost, then a weighted shuffle among equals (seeded per call: another call may see equals swapped); a request receives at most its MaximumDestinations (default %d, cap %d)",
			defaultMaxDestinations, maxDestinations)
	}
	return ex, nil
}

// exclusionReason says why the routing policy skipped a candidate: node's
// own resolution checks (exists, active, not the caller), then the policy's
// (settlement.Policy.Keep). The offered set itself always comes from
// candidates.
func exclusionReason(rc ledger.RouteCandidate, v *view, m, tm *ledger.Member, cv CandidateVerdict, sellOK bool, n *Node, sell money.Amount) string {
	switch {
	case rc.Kind == ledger.CandidatePeer:
		if _, ok := n.peerExists(rc.ID); !ok {
			return "peer " + rc.ID + " does not exist"
		}
		return "peer candidates are forwarded by federation, not offered directly"
	case v.trunks[rc.ID] == nil:
		return "trunk " + rc.ID + " does not exist"
	case tm == nil:
		return "trunk's member " + cv.Member + " does not exist"
	case tm.Status != ledger.MemberActive:
		return "terminating member " + tm.ID + " is " + string(tm.Status)
	case m.ID != "" && tm.ID == m.ID:
		return "trunk belongs to the calling member"
	}
	c := settlement.Candidate{ID: rc.ID, BuyDeck: tm.BuyDeckID != "", Rated: cv.BuyRate != nil}
	if c.Rated {
		c.Cost = *cv.BuyRate
	}
	switch _, why := n.cfg.policy.Keep(&c, sell, sellOK); why {
	case "no rate":
		return "buy deck " + tm.BuyDeckID + " has no rate for " + cv.Called
	case "margin":
		return "below the minimum margin " + n.cfg.policy.MinMargin() + " of the sell rate"
	}
	return "not offered by the routing policy"
}

// tariff returns deck's per-minute rate and connect fee for number, apart
// (nil, nil when the deck does not price it).
func (rq *request) tariff(deckID, number string) (perMinute, connectFee *money.Amount) {
	r := rq.rater(deckID)
	if r == nil {
		return nil, nil
	}
	t, err := r.Tariff(number, rq.now)
	if err != nil {
		return nil, nil
	}
	return &t.PerMinute, &t.ConnectFee
}

// qualityVerdict is route quality's verdict on candidate rc of route, as
// an explanation sees it (it takes no turn of the probe share).
func (n *Node) qualityVerdict(v *view, route *ledger.Route, rc ledger.RouteCandidate) quality.Verdict {
	th := v.quality[route.Prefix]
	if th == nil {
		return quality.Verdict{}
	}
	return n.quality.tr.Judge(quality.Key{Candidate: candidateKey(rc.Kind, rc.ID), Prefix: route.Prefix}, th, false)
}

// qualityNote words a demotion for route lookup.
func qualityNote(qv quality.Verdict) string {
	s := "demoted: " + qv.Reason
	if qv.Exclude {
		s = "excluded: " + qv.Reason
	}
	if qv.Probe {
		s += " (the next authorisation probes it first)"
	}
	return s
}

func (n *Node) peerExists(id string) (ledger.Peer, bool) {
	p, err := n.store.Peer(id)
	return p, err == nil
}
