package node

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ospnode/ospnode/settlement/quality"
)

// maxQualityMetricCandidates bounds the candidates (trunks and peers)
// exported as labels: the busiest ones by last-N attempts. Prefixes are
// never labels (a route table has up to hundreds of thousands).
const maxQualityMetricCandidates = 500

// writeQualityMetrics writes route quality per candidate (trunk or peer,
// summed over its prefixes) for both windows, and the tracker's own
// bookkeeping. Every node of a cluster exports the same figures (they come
// from the replicated usage): alert on max by (kind, id).
func (n *Node) writeQualityMetrics(w io.Writer) {
	at := n.now().UTC()
	gs := n.quality.tr.Group(at, func(k quality.Key) (string, bool) { return k.Candidate, true })
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].Last.Attempts > gs[j].Last.Attempts })
	if len(gs) > maxQualityMetricCandidates {
		gs = gs[:maxQualityMetricCandidates]
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].Group < gs[j].Group })
	labels := func(g *quality.GroupStats) string {
		kind, id, _ := strings.Cut(g.Group, ":")
		return fmt.Sprintf("kind=%q,id=%q", kind, id)
	}
	type metric struct {
		name, help string
		val        func(st *quality.Stats) (float64, bool)
	}
	for _, m := range []metric{
		{"ospnode_route_quality_attempts", "Call attempts of a route candidate in the window (last: its last N attempts per prefix; hour: the last hour).",
			func(st *quality.Stats) (float64, bool) { return float64(st.Attempts), true }},
		{"ospnode_route_quality_asr_ratio", "Answer-seizure ratio (answered ÷ attempts) of a route candidate in the window.",
			func(st *quality.Stats) (float64, bool) { return st.ASR / 100, st.Attempts > 0 }},
		{"ospnode_route_quality_ner_ratio", "Network effectiveness ratio ((answered + busy/no answer/declined) ÷ attempts).",
			func(st *quality.Stats) (float64, bool) { return st.NER / 100, st.Attempts > 0 }},
		{"ospnode_route_quality_acd_seconds", "Average duration of the answered calls.",
			func(st *quality.Stats) (float64, bool) { return st.ACD.Seconds(), st.Answered > 0 }},
		{"ospnode_route_quality_pdd_p95_seconds", "95th percentile post-dial delay (upper bound of its histogram bucket).",
			func(st *quality.Stats) (float64, bool) { return st.PDD95.Seconds(), st.PDDSamples > 0 }},
		{"ospnode_route_quality_short_call_ratio", "Answered calls shorter than 10 s ÷ answered calls.",
			func(st *quality.Stats) (float64, bool) { return st.ShortRatio / 100, st.Answered > 0 }},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", m.name, m.help, m.name)
		for i := range gs {
			g := &gs[i]
			for _, win := range []struct {
				name string
				st   *quality.Stats
			}{{"last", &g.Last}, {"hour", &g.Hour}} {
				if v, ok := m.val(win.st); ok {
					fmt.Fprintf(w, "%s{%s,window=%q} %s\n", m.name, labels(g), win.name, fmtFloat(v))
				}
			}
		}
	}
	fmt.Fprintln(w, "# HELP ospnode_route_quality_demoted_series Prefixes under which route quality demotes or excludes the candidate.")
	fmt.Fprintln(w, "# TYPE ospnode_route_quality_demoted_series gauge")
	for i := range gs {
		fmt.Fprintf(w, "ospnode_route_quality_demoted_series{%s} %d\n", labels(&gs[i]), gs[i].Demoted)
	}
	keys, evicted, dups := n.quality.tr.Counters()
	fmt.Fprintf(w, "# HELP ospnode_route_quality_series (candidate, prefix) series tracked.\n# TYPE ospnode_route_quality_series gauge\nospnode_route_quality_series %d\n", keys)
	fmt.Fprintf(w, "# HELP ospnode_route_quality_evicted_total Series dropped past the cap (least recently updated first).\n# TYPE ospnode_route_quality_evicted_total counter\nospnode_route_quality_evicted_total %d\n", evicted)
	fmt.Fprintf(w, "# HELP ospnode_route_quality_duplicates_total Attempts not counted again: a transaction already counted for that candidate.\n# TYPE ospnode_route_quality_duplicates_total counter\nospnode_route_quality_duplicates_total %d\n", dups)
}
