// Package fraud detects the call patterns that cost carriers money from
// the authorisations and usage a clearinghouse already records, and says
// what to do about them. It is a pure rule engine: events in, findings
// out; it does no I/O, proposes nothing and blocks nothing itself (node
// turns a block finding into a ledger command, and admission enforces the
// ledger's blocks).
//
// The rules (Config, DefaultConfig):
//
//   - high_risk (IRSF): authorisations from one member to one high-risk
//     range (Ranges: ITU international premium, shared-cost and satellite
//     codes and destinations publicly reported as IRSF targets; editable)
//     in the current window reach MinCalls and exceed FactorPermille/1000 × the key's
//     baseline (an exponentially weighted mean of its past windows).
//   - short_calls (wangiri, traffic pumping): the source side's final
//     usage records from one member to one destination in the window are
//     mostly (RatioPermille/1000) shorter than ShortSeconds, at least
//     MinCalls of them, and more than FactorPermille/1000 × the baseline
//     of short calls.
//   - new_destination: a destination the member had no traffic to before
//     (its key was first seen within NewFor, after the detector's learning
//     period) receives MinCalls authorisations or MinSeconds of usage in
//     one window.
//   - simultaneous: one calling number of one member has more than
//     MaxConcurrent calls in progress (authorised, not yet ended by a final
//     usage record, not past their time limit).
//
// Each rule's Action is off, alert (a Finding to report) or block (a
// Finding whose scope node blocks until an operator releases it).
//
// Time: the detector has no clock of its own. Every event carries its
// time (the proposer's time stamped into the ledger command), and the
// detector's now is the latest event time it has seen; tests drive it
// with explicit times, and replicas fed the same log in the same order
// reach the same findings with the same IDs (FindingID).
//
// Integers only: every setting, count and baseline is an integer
// (factors and ratios in permille, durations in seconds or milliseconds,
// baselines and Finding figures in milli-units; decimal.go, window.roll
// for the rounding), so every replica computes the same findings bit for
// bit on any CPU, and the house rule holds: no floating-point types in non-test
// code under ledger/ or settlement/. The network file's decimals (factor
// 3.5, ratio 0.8, min_minutes 30) reach them exactly through ParseDecimal.
//
// Learning: for Config.Learn after its first event the detector has no
// baselines worth the name (a new network), so baseline rules report but
// do not block (Finding.Learning) and destinations first seen in that
// period are not "new". Baselines live in memory: a restarted node
// rebuilds them (Reset, HistoryBegan with its ledger's first activity,
// then the recent events again: node/fraud_rebuild.go), so it learns
// only when the network's history is shorter than the learning period.
// Keys and Calls show what the detector holds, to compare two of them.
//
// Memory is bounded: at most Config.MaxKeys (member, destination) keys,
// MaxKeys (member, calling number) keys and MaxCalls calls in progress are
// tracked; past a cap the least recently seen key is evicted (Stats
// counts evictions). An evicted destination key loses its baseline and
// counts as new again when it returns after the learning period; an
// evicted call no longer counts toward its calling number. Each event
// costs a few map lookups (BenchmarkObserve).
//
// A Detector is safe for concurrent use.
package fraud
