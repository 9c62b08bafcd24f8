package node

import (
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement/quality"
)

// qualityFeed keeps the route-quality windows (settlement/quality) in step
// with the replicated usage: the ledger hands it every usage record it
// applies (ledger.Options.OnUsage), in log order, on every node, and the
// windows use each record's own RecordedAt, so every node that applied
// the same log holds the same windows and demotes alike. On start it
// rebuilds from the most recent records in the ledger (rebuild); see
// DESIGN.md "Route quality" for what that can miss.
type qualityFeed struct {
	tr    *quality.Tracker
	state *stateCache
	log   *slog.Logger
}

func newQualityFeed(cfg quality.Config, log *slog.Logger) *qualityFeed {
	return &qualityFeed{tr: quality.New(cfg), log: log}
}

// onUsage is the ledger's OnUsage hook.
func (f *qualityFeed) onUsage(_ uint64, us []ledger.Usage) {
	if len(us) == 0 || f.state == nil {
		return
	}
	v, err := f.state.get()
	if err != nil {
		f.log.Warn("route quality: state view", "err", err)
		return
	}
	for i := range us {
		f.observe(v, &us[i])
	}
}

func (f *qualityFeed) observe(v *view, u *ledger.Usage) {
	k, o, ok := qualityOutcome(v, u)
	if !ok {
		return
	}
	f.tr.Observe(k, o, v.quality[k.Prefix])
}

// qualityRebuildSpan is how far back from the newest usage record a
// rebuild reads at least: the hour window sums the buckets of the last
// hour (HourBuckets of HourBucket), and one bucket more covers the one
// the newest record falls in.
const qualityRebuildSpan = (quality.HourBuckets + 1) * quality.HourBucket

// qualityRebuildMax bounds a rebuild's records whatever the last hour
// holds (ledger.UsageSince's own cap): about a gigabyte of decoded
// records at most, read once at start.
const qualityRebuildMax = 1_000_000

// rebuild forgets the windows and refills them from the ledger's recent
// usage records, in apply order: those of the last qualityRebuildSpan
// before the newest one (the hour windows) and at least the last atLeast
// (the last-N windows), at most qualityRebuildMax. The records go through
// observe, as they did when applied, with the routes' thresholds of now.
func (f *qualityFeed) rebuild(store *ledger.Store, atLeast int) error {
	start := time.Now()
	var since time.Time
	last, err := store.UsageSince(time.Time{}, 1, 1)
	if err != nil {
		return err
	}
	if len(last) == 1 {
		since = last[0].RecordedAt.Add(-qualityRebuildSpan)
	}
	us, err := store.UsageSince(since, atLeast, qualityRebuildMax)
	if err != nil {
		return err
	}
	v, err := f.state.get()
	if err != nil {
		return err
	}
	f.tr.Reset()
	for i := range us {
		f.observe(v, &us[i])
	}
	keys, _, _ := f.tr.Counters()
	f.log.Info("route quality rebuilt from the ledger", "records", len(us), "series", keys, "took", time.Since(start))
	return nil
}

// qualityOutcome is what usage record u says about a route candidate's
// quality, and under which key; false when it says nothing. Only the
// caller's (source-role) record of an attempt counts (the destination
// reports the same call; counting both would count it twice, and the
// source sees the failures that never reached the destination), and only
// its ending record (a final or a failed attempt), matched to its
// transaction, not a conflict, with the candidate resolved when it was
// proposed (usageQuality).
func qualityOutcome(v *view, u *ledger.Usage) (quality.Key, quality.Outcome, bool) {
	q := u.Quality
	if q == nil || q.Candidate == "" || u.Unmatched || u.Conflict || u.Role != ledger.RoleSource {
		return quality.Key{}, quality.Outcome{}, false
	}
	if u.Phase != ledger.PhaseFinal && u.Phase != ledger.PhaseFailed {
		return quality.Key{}, quality.Outcome{}, false
	}
	route, prefix, ok := v.routes.Lookup(u.Called)
	if !ok || route == nil {
		return quality.Key{}, quality.Outcome{}, false
	}
	o := quality.Outcome{
		At:          u.RecordedAt,
		Transaction: u.TransactionID,
		Kind:        quality.Classify(u.Phase == ledger.PhaseFinal, q.SIPCode, u.TerminationCause),
		Duration:    time.Duration(u.DurationMillis) * time.Millisecond,
		PDD:         -1,
		LossPPM:     q.LossPPM,
		Jitter:      -1,
	}
	if q.PDDMillis >= 0 {
		o.PDD = time.Duration(q.PDDMillis) * time.Millisecond
	}
	if q.JitterMicros >= 0 {
		o.Jitter = time.Duration(q.JitterMicros) * time.Microsecond
	}
	return quality.Key{Candidate: q.Candidate, Prefix: prefix}, o, true
}

// routeThresholds compiles the quality policies of routes (the view's
// quality map). A policy the quality package refuses (the ledger checked
// its ranges, so only a recovery threshold on the wrong side) is ignored
// with a warning.
func routeThresholds(rs []ledger.Route, log *slog.Logger) map[string]*quality.Thresholds {
	out := map[string]*quality.Thresholds{}
	for i := range rs {
		if rs[i].Quality == nil {
			continue
		}
		th, err := thresholdsOf(rs[i].Quality)
		if err != nil {
			log.Warn("route quality policy ignored", "prefix", rs[i].Prefix, "err", err)
			continue
		}
		out[rs[i].Prefix] = &th
	}
	return out
}

// thresholdsOf converts a route's stored quality policy.
func thresholdsOf(q *ledger.RouteQuality) (quality.Thresholds, error) {
	return quality.Thresholds{
		MinSamples: q.MinSamples,
		MinASRBps:  q.MinASRBps, RecoverASRBps: q.RecoverASRBps,
		MinNERBps: q.MinNERBps, RecoverNERBps: q.RecoverNERBps,
		MaxPDD:     time.Duration(q.MaxPDDMillis) * time.Millisecond,
		RecoverPDD: time.Duration(q.RecoverPDDMillis) * time.Millisecond,
		Exclude:    q.Exclude,
		ProbeBps:   q.ProbeBps,
		WeightCost: q.WeightCost,
	}.Normalize()
}

// candidateKey names a route candidate in the quality windows.
func candidateKey(kind, id string) string {
	if kind == ledger.DestPeer || kind == ledger.CandidatePeer {
		return "peer:" + id
	}
	return "trunk:" + id
}

// usageQuality is the quality block of a usage report: the candidate
// that carried the attempt (usageCandidate), the SIP status reported as
// such, the alert time, the post-dial delay (the reported one, else alert
// − start, else connect − start), loss and jitter.
func usageQuality(v *view, t *ledger.Transaction, ui *osp.UsageIndication, role ledger.Role, reporter string) *ledger.UsageQuality {
	q := &ledger.UsageQuality{PDDMillis: -1, LossPPM: -1, JitterMicros: -1}
	if t != nil {
		q.Candidate = usageCandidate(v, t, ui, role, reporter)
	}
	ud := ui.UsageDetail
	if ud == nil {
		return q
	}
	for _, tc := range ud.TerminationCause {
		if strings.EqualFold(tc.Type, "sip") && tc.Code >= 100 && tc.Code < 700 {
			q.SIPCode = uint16(tc.Code)
			break
		}
	}
	q.Alert = ud.AlertTime
	if !ud.AlertTime.IsZero() && !ud.StartTime.IsZero() && !ud.AlertTime.Before(ud.StartTime) {
		q.PDDMillis = ud.AlertTime.Sub(ud.StartTime).Milliseconds()
	} else if !ud.ConnectTime.IsZero() && !ud.StartTime.IsZero() && !ud.ConnectTime.Before(ud.StartTime) {
		q.PDDMillis = ud.ConnectTime.Sub(ud.StartTime).Milliseconds()
	}
	if s := ud.PostDialDelay.Get("source"); s != "" {
		if ms, ok := decimalMillis(s); ok {
			q.PDDMillis = ms
		}
	}
	q.PDDMillis = min(q.PDDMillis, int64(time.Hour/time.Millisecond))
	if st := ud.Statistics; st != nil {
		if l := st.LossReceived; l != nil {
			q.LossPPM = lossPPM(l.Fraction)
		}
		if q.LossPPM < 0 && st.LossSent != nil {
			q.LossPPM = lossPPM(st.LossSent.Fraction)
		}
		for _, m := range st.Metrics {
			for _, j := range m.Jitter {
				if us, ok := millisMicros(j.Mean); ok && q.JitterMicros < 0 {
					q.JitterMicros = us
				}
			}
		}
	}
	return q
}

// usageCandidate resolves which of transaction t's destinations carried
// the reported attempt: for the destination side, the reporter's own
// trunk; for the source side, the destination whose address the report
// names (DestinationAlternate transport), else the only one, else the
// upstream peer of a forwarded call. "" when it cannot tell.
func usageCandidate(v *view, t *ledger.Transaction, ui *osp.UsageIndication, role ledger.Role, reporter string) string {
	if role == ledger.RoleDestination {
		for _, d := range t.Destinations {
			if tr := v.trunks[d.ID]; d.Kind == ledger.DestTrunk && tr != nil && ledger.MemberAccount(tr.MemberID) == reporter {
				return candidateKey(d.Kind, d.ID)
			}
		}
		return ""
	}
	if addr := hostOf(ui.DestinationAlternate.Get("transport")); addr.IsValid() {
		for _, d := range t.Destinations {
			if d.Kind == ledger.DestTrunk && hostOf(d.Address) == addr {
				return candidateKey(d.Kind, d.ID)
			}
		}
	}
	if t.UpstreamPeer != "" {
		return candidateKey(ledger.DestPeer, t.UpstreamPeer)
	}
	if len(t.Destinations) == 1 {
		return candidateKey(t.Destinations[0].Kind, t.Destinations[0].ID)
	}
	return ""
}

// hostOf returns the IP address of "[ip]", "[ip]:port", "ip:port" or
// "ip" (IPv4 in brackets too: the toolkit writes "[192.0.2.1]:5060");
// invalid when s is none of them (a host name: not compared).
func hostOf(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "["); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			s = rest[:i]
		}
	} else if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// decimalMillis reads decimal seconds ("1.250") as milliseconds.
func decimalMillis(s string) (int64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f >= 0 && f <= 86400) { // NaN fails both

		return 0, false
	}
	return int64(math.Round(f * 1000)), true
}

// millisMicros reads decimal milliseconds (a jitter mean) as microseconds.
func millisMicros(s string) (int32, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 1e6 || math.IsNaN(f) {
		return 0, false
	}
	return int32(math.Round(f * 1000)), true
}

// lossPPM reads a reported loss fraction: a value up to 1 is a fraction
// of the packets, above 1 up to 100 a percentage (toolkits report both);
// -1 for anything else.
func lossPPM(s string) int32 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || f < 0 || math.IsNaN(f):
		return -1
	case f <= 1:
		return int32(math.Round(f * 1e6))
	case f <= 100:
		return int32(math.Round(f * 1e4))
	}
	return -1
}

// ledgerRestored rebuilds the route-quality windows and the fraud
// baselines after a snapshot replaced the ledger (the records they were
// fed are gone or others). On the FSM goroutine, before the next entry.
func (n *Node) ledgerRestored() {
	if n.cfg.QualityRebuild <= 0 {
		n.quality.tr.Reset()
	} else if err := n.quality.rebuild(n.store, n.cfg.QualityRebuild); err != nil {
		n.log.Warn("node: route quality not rebuilt after a snapshot restore", "err", err)
	}
	if err := n.fraud.rebuild(n.store, n.cfg.FraudRebuild); err != nil {
		n.log.Warn("node: fraud baselines not rebuilt after a snapshot restore", "err", err)
	}
}
