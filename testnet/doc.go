// Package testnet boots whole federated ospnode topologies on loopback —
// in-process for Go tests, as processes for demos — with simulated carriers,
// fault injection and the load generator.
//
// Only tests and the CLI's testnet and bench commands may import testnet;
// production code never does.
package testnet
