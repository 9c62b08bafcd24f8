package node

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ospnode/ospnode/settlement/quality"
)

// maxQualityMetricCandidates bounds the candidates (trunks and peers)
// exported as labels: the busiest ones by last-N attempts. Prefixes are
// never labels (a route table has up to hundreds of thousands), and the
// candidates are configured trunks and peers (a closed set).
const maxQualityMetricCandidates = 500

var (
	descQAttempts = desc("ospnode_route_quality_attempts", "Call attempts of a route candidate in the window (last: its last N attempts per prefix; hour: the last hour).", "kind", "id", "window")
	descQASR      = desc("ospnode_route_quality_asr_ratio", "Answer-seizure ratio (answered ÷ attempts) of a route candidate in the window.", "kind", "id", "window")
	descQNER      = desc("ospnode_route_quality_ner_ratio", "Network effectiveness ratio ((answered + busy/no answer/declined) ÷ attempts).", "kind", "id", "window")
	descQACD      = desc("ospnode_route_quality_acd_seconds", "Average duration of the answered calls.", "kind", "id", "window")
	descQPDD      = desc("ospnode_route_quality_pdd_seconds", "Post-dial delay quantiles, 0.5 and 0.95 (upper bound of their histogram bucket).", "kind", "id", "window", "quantile")
	descQShort    = desc("ospnode_route_quality_short_call_ratio", "Answered calls shorter than 10 s ÷ answered calls.", "kind", "id", "window")
	descQDemoted  = desc("ospnode_route_quality_demoted_series", "Prefixes under which route quality demotes or excludes the candidate.", "kind", "id")
	descQSeries   = desc("ospnode_route_quality_series", "(candidate, prefix) series tracked.")
	descQEvicted  = desc("ospnode_route_quality_evicted_total", "Series dropped past the cap (least recently updated first).")
	descQDups     = desc("ospnode_route_quality_duplicates_total", "Attempts not counted again: a transaction already counted for that candidate.")
)

// qualityCollector exports route quality per candidate (trunk or peer,
// summed over its prefixes) for both windows, and the tracker's own
// bookkeeping. Every node of a cluster exports the same figures (they come
// from the replicated usage): alert on max by (kind, id).
type qualityCollector struct{ n *Node }

// Describe sends nothing: unchecked, like stateCollector (the candidates
// follow the configuration).
func (c qualityCollector) Describe(chan<- *prometheus.Desc) {}

func (c qualityCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	if n.quality == nil {
		return
	}
	gs := n.quality.tr.Group(n.now().UTC(), func(k quality.Key) (string, bool) { return k.Candidate, true })
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].Last.Attempts > gs[j].Last.Attempts })
	if len(gs) > maxQualityMetricCandidates {
		gs = gs[:maxQualityMetricCandidates]
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i := range gs {
		g := &gs[i]
		kind, id, _ := strings.Cut(g.Group, ":")
		for _, w := range []struct {
			name string
			st   *quality.Stats
		}{{"last", &g.Last}, {"hour", &g.Hour}} {
			st := w.st
			gauge(descQAttempts, float64(st.Attempts), kind, id, w.name)
			if st.Attempts > 0 {
				gauge(descQASR, float64(st.ASRBps)/10000, kind, id, w.name)
				gauge(descQNER, float64(st.NERBps)/10000, kind, id, w.name)
			}
			if st.Answered > 0 {
				gauge(descQACD, st.ACD.Seconds(), kind, id, w.name)
				gauge(descQShort, float64(st.ShortBps)/10000, kind, id, w.name)
			}
			if st.PDDSamples > 0 {
				gauge(descQPDD, st.PDD50.Seconds(), kind, id, w.name, "0.5")
				gauge(descQPDD, st.PDD95.Seconds(), kind, id, w.name, "0.95")
			}
		}
		gauge(descQDemoted, float64(g.Demoted), kind, id)
	}
	keys, evicted, dups := n.quality.tr.Counters()
	gauge(descQSeries, float64(keys))
	ch <- prometheus.MustNewConstMetric(descQEvicted, prometheus.CounterValue, float64(evicted))
	ch <- prometheus.MustNewConstMetric(descQDups, prometheus.CounterValue, float64(dups))
}
