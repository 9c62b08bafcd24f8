package node

import (
	"net/http"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement/quality"
)

// StatsReport answers GET /v1/stats: route quality grouped one way, as of
// At (the last hour ends there), over the last Window attempts of each
// (candidate, prefix) series and over the last hour.
type StatsReport struct {
	By      string               `json:"by"`
	At      time.Time            `json:"at"`
	Window  int                  `json:"window"`
	Groups  []quality.GroupStats `json:"groups"`
	Series  int                  `json:"series"`  // series tracked
	Evicted uint64               `json:"evicted"` // series dropped past the cap
}

// Stats groupings (GET /v1/stats?by=…).
var statsGroupings = []string{"trunk", "peer", "member", "prefix", "series"}

// QualityStats groups the route-quality windows by trunk, peer, member
// (the trunks' members), prefix or series (candidate and prefix).
func (n *Node) QualityStats(by string) (*StatsReport, error) {
	if by == "" {
		by = "trunk"
	}
	v, err := n.state.get()
	if err != nil {
		return nil, err
	}
	var group func(quality.Key) (string, bool)
	switch by {
	case "trunk", "peer":
		group = func(k quality.Key) (string, bool) { return strings.CutPrefix(k.Candidate, by+":") }
	case "member":
		group = func(k quality.Key) (string, bool) {
			id, ok := strings.CutPrefix(k.Candidate, "trunk:")
			if tr := v.trunks[id]; ok && tr != nil {
				return tr.MemberID, true
			}
			return "", false
		}
	case "prefix":
		group = func(k quality.Key) (string, bool) { return k.Prefix, true }
	case "series":
		group = func(k quality.Key) (string, bool) { return k.Candidate + " " + k.Prefix, true }
	default:
		return nil, badRequest("by %q: want one of %s", by, strings.Join(statsGroupings, ", "))
	}
	at := n.now().UTC()
	keys, evicted, _ := n.quality.tr.Counters()
	return &StatsReport{By: by, At: at, Window: n.quality.tr.Config().Window, Groups: n.quality.tr.Group(at, group),
		Series: keys, Evicted: evicted}, nil
}

func (n *Node) adminQualityRoutes(mux *http.ServeMux) {
	h := n.adminHandle
	mux.HandleFunc("GET /v1/stats", h(func(r *http.Request) (int, any, error) {
		rep, err := n.QualityStats(r.URL.Query().Get("by"))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, rep, nil
	}))
	// A route's quality policy alone, without restating its candidates.
	mux.HandleFunc("PUT /v1/routes/{prefix}/quality", h(func(r *http.Request) (int, any, error) {
		var q ledger.RouteQuality
		if err := readJSON(nil, r, &q); err != nil {
			return 0, nil, err
		}
		if err := checkRouteQuality(&q); err != nil {
			return 0, nil, err
		}
		return n.setRouteQuality(r, r.PathValue("prefix"), &q)
	}))
	mux.HandleFunc("DELETE /v1/routes/{prefix}/quality", h(func(r *http.Request) (int, any, error) {
		return n.setRouteQuality(r, r.PathValue("prefix"), nil)
	}))
}

func (n *Node) setRouteQuality(r *http.Request, prefix string, q *ledger.RouteQuality) (int, any, error) {
	if err := n.adminBarrier(r); err != nil {
		return 0, nil, err
	}
	rt, err := n.store.Route(prefix)
	if isNotFound(err) {
		return 0, nil, notFound("route %q not found", prefix)
	}
	if err != nil {
		return 0, nil, err
	}
	rt.Quality = q
	if _, err := n.adminApply(r, ledger.PutRoutes{Routes: []ledger.Route{rt}}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rt, nil
}

// checkRouteQuality refuses a quality policy the quality package would
// not take, with its message (400).
func checkRouteQuality(q *ledger.RouteQuality) error {
	if q == nil {
		return nil
	}
	if _, err := thresholdsOf(q); err != nil {
		return badRequest("%v", err)
	}
	return nil
}
