// Package federation connects one peering network to others: it forwards
// authorisations upstream as an OSP client, merges upstream destinations with
// local ones, prevents loops with a forwarding path carried in extension
// elements marked critical="false", and cascades usage upstream through a
// durable replicated outbox, with failover among a peer's service points.
//
// federation does not own replicated state: it reads and writes it through
// ledger commands proposed by node.
//
// The pieces:
//
//   - Peer, PeerConfig, ConfigFromLedger, Registry: a peer network built from
//     its ledger.Peer record — service points with weights, trusted CAs for
//     its tokens and TLS, our client certificate (mutual TLS), our member
//     identity there, limits — with a circuit breaker per service point
//     (Health, for `ospnode peer list`).
//   - Forwarder.Forward: one AuthorizationRequest upstream within a budget,
//     weighted failover across service points, typed errors (*ForwardError)
//     that carry the OSP code to answer with.
//   - CheckLoop: the forwarding path and hop limit (*LoopError, OSP 404).
//   - ForwardResult.Offer, ChainLimit: the upstream's destinations as we
//     offer them (deduplicated, at most max); the time limit is the minimum
//     along the chain. An answer comes from one source only, so there is
//     nothing to merge across sources (DESIGN.md, "One upstream per
//     transaction").
//   - Cascader: the leader-only background worker that delivers the outbox
//     (at-least-once, idempotent upstream) and proposes AckOutbox.
//
// federation declares what it needs from node as small interfaces (Outbox,
// Proposer, Leadership, PeerSource) so it is tested against real OSP servers
// and a real ledger without node. DESIGN.md explains the choices.
package federation
