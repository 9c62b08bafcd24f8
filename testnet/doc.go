// Package testnet boots whole federated ospnode topologies on loopback —
// in-process for Go tests, as processes for demos — with simulated carriers,
// fault injection and the load generator.
//
// In-process: StartNetwork (one Raft cluster of 1..7 nodes) and
// StartTopology (several networks wired by Links: a peer on the downstream
// side, a member on the upstream side, decks both ways) return a *Network /
// *Topology with WaitForLeader, WaitConverged (equal ledger digests),
// AssertBooksBalance (ledger audit on every node), and faults: Kill,
// Restart, Wipe (rejoin empty), Partition/Heal, Pause, SetDelay through
// faultnet proxies in front of every node's cluster listener.
// NewTestNetwork and NewTestTopology are the same for a testing.TB.
//
// Processes: Up starts every node as a child process of the ospnode binary
// (`ospnode testnet node`), with a state file (StateFile) listing pids and
// endpoints; Down stops them and removes the directory. See DESIGN.md for
// the topology file format and what a partition does and does not isolate.
//
// The load generator (RunLoad, LoadOptions) drives any OSP server; against
// a Network use Network.LoadOptions and check with VerifyExactlyOnce.
//
// Only tests and the CLI's testnet and bench commands may import testnet;
// production code never does.
package testnet
