// Package consensus wires hashicorp/raft (v1.7.3) for ospnode: raft-boltdb/v2
// log and stable store, a file snapshot store, a TCP transport with an optional
// TLS stream layer, bootstrap/join/remove, leadership transfer, leader
// forwarding over the cluster's internal channel, a read barrier, and group
// commit (many proposed commands carried by one Raft log entry).
//
// consensus is generic: commands and results are opaque bytes and it imports
// none of ledger, settlement or osp. It must not know what a command means.
//
// Use: Open(Config, StateMachine) starts a Node on one listener (Raft and the
// internal channel share it); Propose replicates a command from any node and
// returns the state machine's result; Barrier makes a following local read
// linearizable; Join/JoinCluster/Remove/TransferLeadership manage membership
// from any node; Status and Stats feed the admin API and /metrics. Every
// failure is one of ErrNoQuorum, ErrTimeout, ErrClosed, ErrNotLeader (all
// "try the next server"); after ErrNoQuorum, ErrTimeout or ErrClosed the
// command may still commit, so commands carry idempotency keys. ErrHalted
// means this node stopped applying its log at an entry it cannot apply
// (Node.Halted names it); ErrRefused, that an internal-channel caller is
// not admitted (Config.PeerID, Config.JoinAddr).
//
// DESIGN.md explains the single listener, who may speak on it, forwarding,
// halting on an entry that cannot be applied, group commit, restart
// semantics (NoSnapshotRestoreOnStart + StateMachine.AppliedIndex) and what a
// timeout means for the caller.
package consensus
