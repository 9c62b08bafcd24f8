package node

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds (seconds) of the OSP latency
// histogram: an authorisation is ~100 µs of CPU plus one Raft commit.
var latencyBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// metrics holds the OSP counters exposed on /metrics. Hand-written
// Prometheus text format: no metrics module is allowed, and a few atomic
// counters are all it takes. Safe for concurrent use.
type metrics struct {
	mu       sync.Mutex
	requests map[reqKey]*atomic.Uint64
	latency  map[string]*histo
	refused  atomic.Uint64 // requests refused before decoding (unknown source)
	badHTTP  atomic.Uint64 // bodies that could not be answered in OSP
	panics   atomic.Uint64 // components whose answer panicked (answered 500)

	connsRefused atomic.Uint64 // OSP connections closed at once: nothing could make room
	connsEvicted atomic.Uint64 // OSP connections closed to make room for another (the slowest)
	bytesRefused atomic.Uint64 // OSP requests refused 503 over the in-flight body budget
	adminRefused atomic.Uint64 // admin connections closed at once over the admin listener's caps
	adminEvicted atomic.Uint64 // admin connections closed to make room for another

	usageConflicts atomic.Uint64 // final usage records that disagreed with their call's paid final
	usageBehind    atomic.Uint64 // usage answered 503 because this replica was behind its transaction
}

type reqKey struct {
	kind string
	code int
}

type histo struct {
	counts [14]atomic.Uint64 // len(latencyBounds)+1, the last is +Inf
	sumNs  atomic.Uint64
	n      atomic.Uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[reqKey]*atomic.Uint64{}, latency: map[string]*histo{}}
}

// observe counts one answered component and the request's latency.
func (m *metrics) observe(kind string, code int) {
	k := reqKey{kind, code}
	m.mu.Lock()
	c := m.requests[k]
	if c == nil {
		c = new(atomic.Uint64)
		m.requests[k] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

func (m *metrics) latencyOf(kind string, d time.Duration) {
	m.mu.Lock()
	h := m.latency[kind]
	if h == nil {
		h = new(histo)
		m.latency[kind] = h
	}
	m.mu.Unlock()
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBounds, s)
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
	h.n.Add(1)
}

func (n *Node) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	n.writeMetrics(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = io.WriteString(w, b.String())
}

func (n *Node) writeMetrics(w io.Writer) {
	m := n.met
	m.mu.Lock()
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	kinds := make([]string, 0, len(m.latency))
	for k := range m.latency {
		kinds = append(kinds, k)
	}
	m.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].kind != keys[j].kind {
			return keys[i].kind < keys[j].kind
		}
		return keys[i].code < keys[j].code
	})
	sort.Strings(kinds)

	fmt.Fprintln(w, "# HELP ospnode_osp_requests_total OSP components answered, by message type and OSP status code.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_requests_total counter")
	for _, k := range keys {
		m.mu.Lock()
		c := m.requests[k]
		m.mu.Unlock()
		fmt.Fprintf(w, "ospnode_osp_requests_total{type=%q,code=\"%d\"} %d\n", k.kind, k.code, c.Load())
	}
	fmt.Fprintln(w, "# HELP ospnode_osp_refused_total OSP requests refused before decoding (unknown source) or unanswerable in OSP.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_refused_total counter")
	fmt.Fprintf(w, "ospnode_osp_refused_total{reason=\"unknown_source\"} %d\n", m.refused.Load())
	fmt.Fprintf(w, "ospnode_osp_refused_total{reason=\"unparseable\"} %d\n", m.badHTTP.Load())
	fmt.Fprintln(w, "# HELP ospnode_osp_panics_total OSP components whose answer panicked (a bug), recovered and answered 500.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_panics_total counter")
	fmt.Fprintf(w, "ospnode_osp_panics_total %d\n", m.panics.Load())
	fmt.Fprintln(w, "# HELP ospnode_osp_connections_refused_total OSP connections closed at once: their source (or the listener) was full and every connection it held was processing a request.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_connections_refused_total counter")
	fmt.Fprintf(w, "ospnode_osp_connections_refused_total %d\n", m.connsRefused.Load())
	fmt.Fprintln(w, "# HELP ospnode_usage_conflicts_total Final usage records that disagreed with their call's paid final record (kept, flagged, never paid), as answered by this node.")
	fmt.Fprintln(w, "# TYPE ospnode_usage_conflicts_total counter")
	fmt.Fprintf(w, "ospnode_usage_conflicts_total %d\n", m.usageConflicts.Load())
	fmt.Fprintln(w, "# HELP ospnode_usage_behind_total Usage answered 503 because this node had not applied the transaction it names yet.")
	fmt.Fprintln(w, "# TYPE ospnode_usage_behind_total counter")
	fmt.Fprintf(w, "ospnode_usage_behind_total %d\n", m.usageBehind.Load())
	fmt.Fprintln(w, "# HELP ospnode_osp_connections_evicted_total OSP connections closed to make room for a newcomer or for bytes: the slowest of the heaviest source.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_connections_evicted_total counter")
	fmt.Fprintf(w, "ospnode_osp_connections_evicted_total %d\n", m.connsEvicted.Load())
	fmt.Fprintln(w, "# HELP ospnode_osp_body_budget_refused_total OSP requests answered 503 because the in-flight body budget had no room for them.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_body_budget_refused_total counter")
	fmt.Fprintf(w, "ospnode_osp_body_budget_refused_total %d\n", m.bytesRefused.Load())
	fmt.Fprintln(w, "# HELP ospnode_admin_connections_refused_total Admin connections closed at once over the admin listener's caps.")
	fmt.Fprintln(w, "# TYPE ospnode_admin_connections_refused_total counter")
	fmt.Fprintf(w, "ospnode_admin_connections_refused_total %d\n", m.adminRefused.Load())

	fmt.Fprintln(w, "# HELP ospnode_osp_request_duration_seconds Time to answer an OSP request, by the type of its first component.")
	fmt.Fprintln(w, "# TYPE ospnode_osp_request_duration_seconds histogram")
	for _, k := range kinds {
		m.mu.Lock()
		h := m.latency[k]
		m.mu.Unlock()
		var cum uint64
		for i, ub := range latencyBounds {
			cum += h.counts[i].Load()
			fmt.Fprintf(w, "ospnode_osp_request_duration_seconds_bucket{type=%q,le=\"%s\"} %d\n", k, fmtFloat(ub), cum)
		}
		cum += h.counts[len(latencyBounds)].Load()
		fmt.Fprintf(w, "ospnode_osp_request_duration_seconds_bucket{type=%q,le=\"+Inf\"} %d\n", k, cum)
		fmt.Fprintf(w, "ospnode_osp_request_duration_seconds_sum{type=%q} %s\n", k, fmtFloat(float64(h.sumNs.Load())/1e9))
		fmt.Fprintf(w, "ospnode_osp_request_duration_seconds_count{type=%q} %d\n", k, h.n.Load())
	}

	st := n.cons.Status()
	leader := 0
	if st.State == "Leader" {
		leader = 1
	}
	hasLeader := 0
	if st.LeaderID != "" {
		hasLeader = 1
	}
	fmt.Fprintln(w, "# HELP ospnode_raft_state Raft state of this node (1 for the current state).")
	fmt.Fprintln(w, "# TYPE ospnode_raft_state gauge")
	for _, s := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		v := 0
		if st.State == s {
			v = 1
		}
		fmt.Fprintf(w, "ospnode_raft_state{state=%q} %d\n", s, v)
	}
	gauge := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
	}
	gauge("ospnode_raft_leader", "1 if this node is the Raft leader.", leader)
	gauge("ospnode_raft_has_leader", "1 if this node knows a leader.", hasLeader)
	gauge("ospnode_raft_term", "Current Raft term.", st.Term)
	gauge("ospnode_raft_commit_index", "Raft commit index.", st.CommitIndex)
	gauge("ospnode_raft_applied_index", "Raft applied index.", st.AppliedIndex)
	gauge("ospnode_raft_members", "Servers in the Raft configuration.", len(st.Members))
	var halted uint64
	if h := n.cons.Halted(); h != nil {
		halted = h.Index
	}
	gauge("ospnode_raft_halted_index", "The log entry this node cannot apply and stopped at (0: applying normally).", halted)
	gauge("ospnode_ledger_applied_index", "Last log index applied to the ledger.", n.store.AppliedIndex())

	cs := n.cons.Stats()
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("ospnode_consensus_entries_total", "Raft log entries proposed by this node as leader (group commit).", cs.Entries)
	counter("ospnode_consensus_commands_total", "Commands carried by those entries.", cs.Commands)
	counter("ospnode_consensus_forwarded_out_total", "Commands forwarded to the leader.", cs.ForwardedOut)
	counter("ospnode_consensus_forwarded_in_total", "Commands received from followers.", cs.ForwardedIn)
	counter("ospnode_consensus_propose_errors_total", "Proposals that failed.", cs.ProposeErrors)
	fmt.Fprintln(w, "# HELP ospnode_consensus_batch_size Commands per Raft log entry (group commit).")
	fmt.Fprintln(w, "# TYPE ospnode_consensus_batch_size histogram")
	var count uint64
	for _, b := range cs.BatchSizes {
		le := "+Inf"
		if !math.IsInf(b.UpperBound, 1) {
			le = fmtFloat(b.UpperBound)
		}
		fmt.Fprintf(w, "ospnode_consensus_batch_size_bucket{le=%q} %d\n", le, b.Count)
		count = b.Count
	}
	if len(cs.BatchSizes) == 0 || !math.IsInf(cs.BatchSizes[len(cs.BatchSizes)-1].UpperBound, 1) {
		fmt.Fprintf(w, "ospnode_consensus_batch_size_bucket{le=\"+Inf\"} %d\n", cs.Entries)
		count = cs.Entries
	}
	fmt.Fprintf(w, "ospnode_consensus_batch_size_sum %d\n", cs.BatchSizeSum)
	fmt.Fprintf(w, "ospnode_consensus_batch_size_count %d\n", count)
	n.writeFederationMetrics(w)
	n.writeQualityMetrics(w)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// healthy reports whether the node can serve: its store is open and it
// knows a leader.
func (n *Node) healthy() (bool, string) {
	select {
	case <-n.closed:
		return false, "closing"
	default:
	}
	if h := n.cons.Halted(); h != nil {
		return false, h.Error()
	}
	if _, err := n.store.Network(); err != nil && !isNotFound(err) {
		return false, "store: " + err.Error()
	}
	if n.cons.Status().LeaderID == "" {
		return false, "no leader"
	}
	return true, "ok"
}

func (n *Node) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	ok, why := n.healthy()
	body := why + "\n"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if ok {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, body)
}
