package node

import (
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Every metric of /metrics is registered here (this file and the state
// collector in metrics_state.go), so that a new metric has one obvious
// place and docs/operations.md can list them all (TestOperationsListsEveryMetric
// checks the list against a running node).
//
// Label values come from closed sets only — OSP message types, the status
// codes we answer, admin route patterns, ledger command types, configured
// peers — so a hostile client cannot grow the series count.

// latencyBounds are the upper bounds (seconds) of the latency histograms:
// an authorisation is ~100 µs of CPU plus one Raft commit.
var latencyBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// metrics holds this node's Prometheus registry and the instruments the
// request paths update. One registry per node (tests run several nodes in
// one process). Safe for concurrent use.
type metrics struct {
	reg *prometheus.Registry
	// collectors are the ospnode_ collectors registered above (for
	// MetricNames; the state collector lists its own descriptors).
	collectors []prometheus.Collector

	requests *prometheus.CounterVec   // type, code
	latency  *prometheus.HistogramVec // type
	// The hot path resolves a (type, code) child once and then only loads it
	// from these caches: WithLabelValues would hash and format the code on
	// every request.
	reqCache sync.Map // reqKey → prometheus.Counter
	latCache sync.Map // string → prometheus.Observer

	adminLatency *prometheus.HistogramVec // route
	adminReqs    *prometheus.CounterVec   // route, code
	applyLatency prometheus.Histogram     // one Raft log entry's ApplyBatch
	propose      *prometheus.HistogramVec // command: proposal to applied result

	refused atomic.Uint64 // requests refused before decoding (unknown source)
	badHTTP atomic.Uint64 // bodies that could not be answered in OSP
	panics  atomic.Uint64 // components whose answer panicked (answered 500)

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

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ospnode_osp_requests_total",
		Help: "OSP components answered, by message type and OSP status code.",
	}, []string{"type", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ospnode_osp_request_duration_seconds",
		Help:    "Time to answer an OSP request, by the type of its first component.",
		Buckets: latencyBounds,
	}, []string{"type"})
	m.adminLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ospnode_admin_request_duration_seconds",
		Help:    "Time to answer an admin API request (and /metrics, /healthz), by route pattern.",
		Buckets: latencyBounds,
	}, []string{"route"})
	m.adminReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ospnode_admin_requests_total",
		Help: "Admin API requests answered, by route pattern and HTTP status.",
	}, []string{"route", "code"})
	m.applyLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ospnode_raft_apply_duration_seconds",
		Help:    "Time to apply one committed Raft log entry (a group-commit batch) to the ledger, on this node.",
		Buckets: latencyBounds,
	})
	m.propose = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ospnode_raft_commit_duration_seconds",
		Help:    "Time from proposing a ledger command on this node to its applied result (group commit, forwarding to the leader, Raft commit by a quorum, apply), by command type.",
		Buckets: latencyBounds,
	}, []string{"command"})
	m.reg.MustRegister(m.requests, m.latency, m.adminLatency, m.adminReqs, m.applyLatency, m.propose)
	m.collectors = []prometheus.Collector{m.requests, m.latency, m.adminLatency, m.adminReqs, m.applyLatency, m.propose}

	counter := func(name, help string, v *atomic.Uint64, labels prometheus.Labels) {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v.Load()) })
		m.reg.MustRegister(c)
		m.collectors = append(m.collectors, c)
	}
	const refusedHelp = "OSP requests refused before decoding (unknown source) or unanswerable in OSP."
	counter("ospnode_osp_refused_total", refusedHelp, &m.refused, prometheus.Labels{"reason": "unknown_source"})
	counter("ospnode_osp_refused_total", refusedHelp, &m.badHTTP, prometheus.Labels{"reason": "unparseable"})
	counter("ospnode_osp_panics_total", "OSP components whose answer panicked (a bug), recovered and answered 500.", &m.panics, nil)
	counter("ospnode_osp_connections_refused_total", "OSP connections closed at once: their source (or the listener) was full and every connection it held was processing a request.", &m.connsRefused, nil)
	counter("ospnode_osp_connections_evicted_total", "OSP connections closed to make room for a newcomer or for bytes: the slowest of the heaviest source.", &m.connsEvicted, nil)
	counter("ospnode_osp_body_budget_refused_total", "OSP requests answered 503 because the in-flight body budget had no room for them.", &m.bytesRefused, nil)
	counter("ospnode_admin_connections_refused_total", "Admin connections closed at once over the admin listener's caps.", &m.adminRefused, nil)
	counter("ospnode_admin_connections_evicted_total", "Admin connections closed to make room for another (the slowest of the heaviest source).", &m.adminEvicted, nil)
	counter("ospnode_usage_conflicts_total", "Final usage records that disagreed with their call's paid final record (kept, flagged, never paid), as answered by this node.", &m.usageConflicts, nil)
	counter("ospnode_usage_behind_total", "Usage answered 503 because this node had not applied the transaction it names yet.", &m.usageBehind, nil)

	// What every Prometheus user expects of a Go service: go_* (runtime,
	// GC, memory) and process_* (CPU, RSS, open file descriptors).
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one answered component.
func (m *metrics) observe(kind string, code int) {
	k := reqKey{kind, code}
	c, ok := m.reqCache.Load(k)
	if !ok {
		c, _ = m.reqCache.LoadOrStore(k, m.requests.WithLabelValues(kind, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

// latencyOf records the time to answer one OSP request.
func (m *metrics) latencyOf(kind string, d time.Duration) {
	h, ok := m.latCache.Load(kind)
	if !ok {
		h, _ = m.latCache.LoadOrStore(kind, m.latency.WithLabelValues(kind))
	}
	h.(prometheus.Observer).Observe(d.Seconds())
}

// instrumentAdmin times every request of the admin listener by the route
// pattern that served it. http.ServeMux sets r.Pattern on the request it
// is handed, and the admin muxes pass that same request down, so after
// ServeHTTP it names the innermost matching pattern (a refused token
// leaves the outer "/").
func (m *metrics) instrumentAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "none"
		}
		m.adminLatency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.adminReqs.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

// statusWriter remembers the status code written through it. Unwrap lets
// http.ResponseController reach the connection (deadlines, flushing).
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// timedStateMachine is the ledger as consensus sees it, with each log
// entry's apply timed for ospnode_raft_apply_duration_seconds.
type timedStateMachine struct {
	consensus.StateMachine
	apply prometheus.Observer
}

func (t timedStateMachine) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	start := time.Now()
	out := t.StateMachine.ApplyBatch(index, cmds)
	t.apply.Observe(time.Since(start).Seconds())
	return out
}

func (n *Node) handleMetrics(w http.ResponseWriter, r *http.Request) {
	n.metricsHandler.ServeHTTP(w, r)
}

// writeMetrics writes every metric in the Prometheus text format, as GET
// /metrics answers a client that asks for nothing else.
func (n *Node) writeMetrics(w io.Writer) {
	mfs, err := n.met.reg.Gather()
	if err != nil {
		n.log.Error("metrics: gather", "err", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
}

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

// proposed records one proposal's time to its applied result. The
// command-type children are few (the ledger's command table) and cached by
// the vector itself.
func (m *metrics) proposed(command string, d time.Duration) {
	m.propose.WithLabelValues(command).Observe(d.Seconds())
}

// fqName digs the metric name out of a descriptor (Desc keeps it private;
// its String form is stable: Desc{fqName: "…", …}).
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// MetricNames returns, sorted, the name of every ospnode_ metric family a
// node can expose on /metrics (a labelled family appears there once it has
// a child). docs/operations.md must list exactly these, and the alert
// rules and dashboard may name only these (docs tests); the go_* and
// process_* families are the standard collectors'.
func MetricNames() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range newMetrics().collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	seen := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			seen[m[1]] = true
		}
	}
	for _, d := range stateDescs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			seen[m[1]] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
