// Package federation connects one peering network to others: it forwards
// authorisations upstream as an OSP client, merges upstream destinations with
// local ones, prevents loops with a forwarding path carried in extension
// elements marked critical="false", and cascades usage upstream through a
// durable replicated outbox, with failover among a peer's service points.
//
// federation does not own replicated state: it reads and writes it through
// ledger commands proposed by node.
package federation
