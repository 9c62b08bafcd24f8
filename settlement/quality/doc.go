// Package quality measures route quality from call outcomes and decides
// which route candidates a quality policy demotes or excludes.
//
// It owns the math only: a Tracker keeps, per (route candidate, route
// prefix), sliding windows over the last N attempts and the last hour
// (attempts, ASR, NER, ACD, PDD percentiles, short-call ratio, packet
// loss and jitter where reported) and a hysteresis state per key; a
// Thresholds value says when a key enters and leaves the demoted state and
// what share of authorisations still probes a demoted candidate. Classify
// turns a termination cause (SIP status or Q.850 cause, as the OSP toolkit
// reports them) into answered / user-caused / network failure.
//
// What it does not do: read the ledger, the clock or the network. Every
// time it sees is an Outcome's own At (the ledger's RecordedAt, stamped by
// the proposing node into the replicated command), and queries take the
// time to measure at, so every node fed the same records in the same order
// holds the same windows and the same states (see DESIGN.md). node feeds
// it from the ledger's apply path and asks it while ranking candidates;
// settlement.Policy applies its verdicts.
//
// A Tracker is safe for concurrent use. Its memory is bounded: at most
// Config.MaxKeys series, the least recently updated evicted first.
package quality
