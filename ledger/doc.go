// Package ledger is the deterministic replicated state machine of one peering
// network: its identity, members, trunks, peers, routes, rate-deck versions,
// transactions, usage records, double-entry postings (exact decimals, per
// currency, hash-chained) and settlement periods, stored on disk in bbolt.
//
// Every change is a versioned command (type byte, version, payload) applied in
// log order. Apply is pure: it never reads the clock, randomness, the
// environment or the network; the proposer stamps time and ids into the
// command. A business rejection is a result, not an error or a panic.
//
// ledger must not import hashicorp/raft, net/http or read the clock; consensus
// drives it through a small interface that ledger satisfies structurally.
// See DESIGN.md for restart, replay and snapshots.
//
// Concurrency: Store's read methods are safe from any goroutine and run in
// bbolt read transactions; ApplyBatch and Restore are called by the single
// consensus apply goroutine. Consensus sees Store through
//
//	ApplyBatch(index uint64, cmds [][]byte) [][]byte
//	AppliedIndex() uint64
//	Snapshot() (Snapshot, error)
//	Restore(r io.Reader) error
//
// Proposers build commands (Authorize, RecordUsage, PutMember, ...), encode
// them with Encode, and read each command's outcome with DecodeResult.
package ledger
