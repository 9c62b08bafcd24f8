// Package consensus wires hashicorp/raft (v1.7.3) for ospnode: raft-boltdb/v2
// log and stable store, a file snapshot store, a TCP transport with an optional
// TLS stream layer, bootstrap/join/remove, leadership transfer, leader
// forwarding over the cluster's internal channel, a read barrier, and group
// commit (many proposed commands carried by one Raft log entry).
//
// consensus is generic: commands and results are opaque bytes and it imports
// none of ledger, settlement or osp. It must not know what a command means.
package consensus
