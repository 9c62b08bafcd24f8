package node

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/ospnode/ospnode/settlement/fraud"
	"github.com/prometheus/client_golang/prometheus"
)

// stateCollector reads the node's Raft, ledger and federation state at
// scrape time: these figures live in consensus, ledger and federation,
// which do not import Prometheus, so they are turned into metrics here.
type stateCollector struct{ n *Node }

// stateDescs are the descriptors of stateCollector, for MetricNames.
var stateDescs []*prometheus.Desc

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	stateDescs = append(stateDescs, d)
	return d
}

var (
	descRaftState    = desc("ospnode_raft_state", "Raft state of this node (1 for the current state).", "state")
	descRaftLeader   = desc("ospnode_raft_leader", "1 if this node is the Raft leader.")
	descHasLeader    = desc("ospnode_raft_has_leader", "1 if this node knows a leader.")
	descTerm         = desc("ospnode_raft_term", "Current Raft term.")
	descCommitIndex  = desc("ospnode_raft_commit_index", "Raft commit index.")
	descAppliedIndex = desc("ospnode_raft_applied_index", "Raft applied index.")
	descMembers      = desc("ospnode_raft_members", "Servers in the Raft configuration.")
	descHalted       = desc("ospnode_raft_halted_index", "The log entry this node cannot apply and stopped at (0: applying normally).")
	descLedgerIndex  = desc("ospnode_ledger_applied_index", "Last log index applied to the ledger.")

	descEntries      = desc("ospnode_consensus_entries_total", "Raft log entries proposed by this node as leader (group commit).")
	descCommands     = desc("ospnode_consensus_commands_total", "Commands carried by those entries.")
	descForwardedOut = desc("ospnode_consensus_forwarded_out_total", "Commands forwarded to the leader.")
	descForwardedIn  = desc("ospnode_consensus_forwarded_in_total", "Commands received from followers.")
	descProposeErrs  = desc("ospnode_consensus_propose_errors_total", "Proposals that failed.")
	descBatchSize    = desc("ospnode_consensus_batch_size", "Commands per Raft log entry (group commit).")

	descCascadeSent    = desc("ospnode_cascade_sent_total", "Usage indications cascaded to peers (one per outbox item per attempt).")
	descCascadeAcked   = desc("ospnode_cascade_acked_total", "Outbox items confirmed by their peer and acknowledged in the ledger.")
	descCascadeFailed  = desc("ospnode_cascade_failed_total", "Failed deliveries of an outbox item (retried with backoff).")
	descCascadeAckErrs = desc("ospnode_cascade_ack_errors_total", "AckOutbox proposals that failed (retried).")
	descCascadePasses  = desc("ospnode_cascade_passes_total", "Outbox drain passes run as leader.")
	descCascadePending = desc("ospnode_cascade_pending", "Outbox items pending at the last drain pass (leader).")
	descForwards       = desc("ospnode_federation_forwards_total", "Authorisations forwarded to peers, by outcome.", "outcome")
	descSPState        = desc("ospnode_peer_service_point_state", "Circuit breaker state of each peer service point (1 for the current state).", "peer", "url", "state")
	descPeerInFlight   = desc("ospnode_peer_in_flight", "Authorisations in flight to each peer.", "peer")

	// Fraud control (fraud.go): labelled by rule, action and table only,
	// never by member or number, so their cardinality is fixed.
	descFraudFindings = desc("ospnode_fraud_findings_total", "Fraud rule findings on this node, by rule and action (alert, or block; a block while the detector is still learning is counted as an alert).", "rule", "action")
	descFraudRefused  = desc("ospnode_fraud_refused_total", "Authorisations this node refused (403) because a fraud block matched.")
	descFraudDropped  = desc("ospnode_fraud_block_proposals_dropped_total", "Block findings not proposed because the proposal queue was full (other nodes propose the same block).")
	descFraudActive   = desc("ospnode_fraud_blocks_active", "Fraud blocks in force in the ledger (as this replica has applied).")
	descFraudTracked  = desc("ospnode_fraud_tracked", "Keys and calls the fraud detector tracks (each table is capped; see ospnode_fraud_evicted_total).", "table")
	descFraudEvicted  = desc("ospnode_fraud_evicted_total", "Keys and calls the fraud detector dropped at a cap (their history is lost).")
	descFraudLearning = desc("ospnode_fraud_learning", "1 while the fraud detector is in its learning period (block findings only alert): a new network's first hour; a restarted node rebuilds from its ledger and learns only if the network does.")
)

// Describe sends nothing: the collector is "unchecked", which lets the
// label sets of peers and outcomes follow the configuration.
func (c stateCollector) Describe(chan<- *prometheus.Desc) {}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	st := n.cons.Status()
	for _, s := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		gauge(descRaftState, one(st.State == s), s)
	}
	gauge(descRaftLeader, one(st.State == "Leader"))
	gauge(descHasLeader, one(st.LeaderID != ""))
	gauge(descTerm, float64(st.Term))
	gauge(descCommitIndex, float64(st.CommitIndex))
	gauge(descAppliedIndex, float64(st.AppliedIndex))
	gauge(descMembers, float64(len(st.Members)))
	var halted uint64
	if h := n.cons.Halted(); h != nil {
		halted = h.Index
	}
	gauge(descHalted, float64(halted))
	gauge(descLedgerIndex, float64(n.store.AppliedIndex()))

	cs := n.cons.Stats()
	counter(descEntries, cs.Entries)
	counter(descCommands, cs.Commands)
	counter(descForwardedOut, cs.ForwardedOut)
	counter(descForwardedIn, cs.ForwardedIn)
	counter(descProposeErrs, cs.ProposeErrors)
	buckets := map[float64]uint64{}
	count := cs.Entries
	for _, b := range cs.BatchSizes {
		if math.IsInf(b.UpperBound, 1) {
			count = b.Count
			continue
		}
		buckets[b.UpperBound] = b.Count
	}
	ch <- prometheus.MustNewConstHistogram(descBatchSize, count, float64(cs.BatchSizeSum), buckets)

	cm := n.fed.casc.Metrics()
	counter(descCascadeSent, cm.Sent)
	counter(descCascadeAcked, cm.Acked)
	counter(descCascadeFailed, cm.Failed)
	counter(descCascadeAckErrs, cm.AckErrors)
	counter(descCascadePasses, cm.Passes)
	gauge(descCascadePending, float64(cm.Pending))
	var outcomes []string
	n.fed.forwarded.Range(func(k, _ any) bool { outcomes = append(outcomes, k.(string)); return true })
	slices.Sort(outcomes)
	for _, o := range outcomes {
		v, _ := n.fed.forwarded.Load(o)
		counter(descForwards, v.(*atomic.Uint64).Load(), o)
	}
	for _, ph := range n.PeerHealth() {
		for _, sp := range ph.ServicePoints {
			gauge(descSPState, 1, ph.ID, sp.URL, fmt.Sprint(sp.State))
		}
		gauge(descPeerInFlight, float64(ph.InFlight), ph.ID)
	}
	c.collectFraud(counter, gauge)
}

func (c stateCollector) collectFraud(counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	n := c.n
	fc := n.fraud
	for i, r := range fraud.Rules {
		for j, a := range fraud.Actions {
			if a != fraud.ActionOff {
				counter(descFraudFindings, fc.findings[i][j].Load(), string(r), string(a))
			}
		}
	}
	counter(descFraudRefused, n.adm.fraudRefused.Load())
	counter(descFraudDropped, fc.dropped.Load())
	active := 0
	if v, err := n.state.get(); err == nil && v.fraud != nil {
		active = v.fraud.active
	}
	gauge(descFraudActive, float64(active))
	st := fc.det.Stats()
	gauge(descFraudTracked, float64(st.DestinationKeys), "destination")
	gauge(descFraudTracked, float64(st.CallingKeys), "calling")
	gauge(descFraudTracked, float64(st.Calls), "calls")
	counter(descFraudEvicted, uint64(st.Evicted))
	learning := 0.0
	if st.Learning {
		learning = 1
	}
	gauge(descFraudLearning, learning)
}
