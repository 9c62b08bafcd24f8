// Package faultnet is a TCP proxy between cluster nodes for tests and for
// testnet's fault injection: nodes advertise the proxy's address, so peers
// reach them through it, and the test partitions, pauses or slows the link
// while the real transport keeps running.
package faultnet

import (
	"errors"
	"time"
)

// Proxy forwards every TCP connection accepted on Addr to a target address.
// All methods are safe for concurrent use.
type Proxy struct{}

// New starts a proxy listening on 127.0.0.1:0 that forwards to target.
func New(target string) (*Proxy, error) { return nil, errors.New("faultnet: not implemented yet") }

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return "" }

// Partition cuts every live connection and refuses (closes at once) new ones
// until Heal.
func (p *Proxy) Partition() {}

// Heal ends a Partition.
func (p *Proxy) Heal() {}

// Pause stops moving bytes in both directions (connections stay open, as on a
// black-holed link) until Resume.
func (p *Proxy) Pause() {}

// Resume ends a Pause.
func (p *Proxy) Resume() {}

// SetDelay delays every forwarded chunk by d in each direction (0 = none).
func (p *Proxy) SetDelay(d time.Duration) {}

// Close stops the proxy and closes all its connections.
func (p *Proxy) Close() error { return nil }
