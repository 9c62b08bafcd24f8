package federation

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// DefaultBudget bounds one Forward when neither the caller nor the peer's
// Limits say otherwise. An OSP Toolkit client waits a few seconds for its
// server; forwarding must answer well inside that.
const DefaultBudget = 2 * time.Second

// ServicePoint is one OSP server URL of a peer network.
type ServicePoint struct {
	URL string
	// Weight is the point's relative share of first attempts among the
	// weighted points. 0 makes it a backup: tried only after every weighted
	// point, in list order.
	Weight int
}

// Identity is who we are at the peer: the member identity it knows us by.
type Identity struct {
	// NetworkID is our own network id, sent as SourceAlternate
	// type="network" (and appended to the forwarding path by Forward).
	NetworkID string
	// DeviceID and CustomerID are our member identity in the peer network
	// (ledger.Peer.OurMemberID unless configured otherwise).
	DeviceID   string
	CustomerID string
	// SourceAddress is the transport address the peer knows our source
	// device by (DeviceInfo type="transport"), e.g. "[198.51.100.1]:5060".
	// Empty keeps the member's.
	SourceAddress string
}

// Limits bounds what we send to one peer.
type Limits struct {
	// MaxConcurrent bounds forwarded authorisations in flight (0: no bound).
	// Forward fails fast with ErrPeerBusy beyond it.
	MaxConcurrent int
	// Budget caps one Forward (0: DefaultBudget); the caller's budget is
	// lowered to it, never raised.
	Budget time.Duration
	// AttemptTimeout caps one attempt at one service point (0: only the
	// equal share of the remaining budget, see DESIGN.md).
	AttemptTimeout time.Duration
}

// PeerConfig is the configuration of one peer network, as federation uses
// it. It is a plain value; NewPeer turns it into a live *Peer.
type PeerConfig struct {
	ID     string
	Name   string
	Status ledger.PeerStatus
	// ServicePoints are the peer's OSP servers (at least one).
	ServicePoints []ServicePoint
	// TrustedCAs sign the peer's tokens and its TLS server certificates.
	TrustedCAs []*x509.Certificate
	// ClientCertificate is ours towards the peer (mutual TLS); nil: none.
	ClientCertificate *tls.Certificate
	Identity          Identity
	Limits            Limits
	// BuyDeckID rates calls we send to the peer.
	BuyDeckID string
}

// LedgerOptions says how ConfigFromLedger completes a ledger.Peer with what
// the replicated record does not hold.
type LedgerOptions struct {
	// NetworkID is our network id.
	NetworkID string
	// SourceAddress is our source device address at the peer (optional).
	SourceAddress string
	// LoadClientCertificate loads the key pair a ledger.Peer's
	// ClientCertRef/ClientKeyRef name. nil: they are PEM file paths
	// (tls.LoadX509KeyPair).
	LoadClientCertificate func(certRef, keyRef string) (tls.Certificate, error)
	// Budget and AttemptTimeout fill Limits (ledger.Peer has only the
	// concurrency limit).
	Budget         time.Duration
	AttemptTimeout time.Duration
}

// ConfigFromLedger builds a PeerConfig from the replicated peer record:
// service points, trusted CAs (PEM, every block must be a certificate),
// our client certificate (loaded through o.LoadClientCertificate when the
// record names one), our identity there (OurMemberID as DeviceId and
// CustomerId) and limits. Errors name the peer and what was wrong.
func ConfigFromLedger(lp ledger.Peer, o LedgerOptions) (PeerConfig, error) {
	c := PeerConfig{
		ID:     lp.ID,
		Name:   lp.Name,
		Status: lp.Status,
		Identity: Identity{
			NetworkID:     o.NetworkID,
			DeviceID:      lp.OurMemberID,
			CustomerID:    lp.OurMemberID,
			SourceAddress: o.SourceAddress,
		},
		Limits: Limits{
			MaxConcurrent:  lp.ConcurrentLimit,
			Budget:         o.Budget,
			AttemptTimeout: o.AttemptTimeout,
		},
		BuyDeckID: lp.BuyDeckID,
	}
	for _, sp := range lp.ServicePoints {
		c.ServicePoints = append(c.ServicePoints, ServicePoint{URL: sp.URL, Weight: sp.Weight})
	}
	for i, p := range lp.TrustedCAs {
		certs, err := ParseCertificatesPEM([]byte(p))
		if err != nil {
			return PeerConfig{}, fmt.Errorf("federation: peer %q: trusted CA %d: %w", lp.ID, i, err)
		}
		c.TrustedCAs = append(c.TrustedCAs, certs...)
	}
	if lp.ClientCertRef != "" || lp.ClientKeyRef != "" {
		load := o.LoadClientCertificate
		if load == nil {
			load = tls.LoadX509KeyPair
		}
		kp, err := load(lp.ClientCertRef, lp.ClientKeyRef)
		if err != nil {
			return PeerConfig{}, fmt.Errorf("federation: peer %q: client certificate: %w", lp.ID, err)
		}
		c.ClientCertificate = &kp
	}
	return c, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of b. It fails when b
// holds no certificate, a block of another type, or trailing non-PEM data.
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("pem block of type %q, want CERTIFICATE", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	for _, ch := range rest {
		if ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t' {
			return nil, errors.New("trailing data after the last PEM certificate")
		}
	}
	return out, nil
}

// PeerOptions tunes the runtime of a Peer. The zero value is valid.
type PeerOptions struct {
	// Breaker configures the per-service-point circuit breakers.
	Breaker BreakerConfig
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Rand chooses among weighted service points (nil: a random seed).
	// It is used under the peer's lock.
	Rand *rand.Rand
	// Transport replaces the HTTP transport built from the TLS
	// configuration (tests, custom dialers).
	Transport http.RoundTripper
	// Logger receives failed attempts at debug level (nil: discard).
	Logger *slog.Logger
}

// Peer is a live peer network: its configuration, one OSP client per
// service point sharing one keep-alive transport (mutual TLS when
// configured), the service points' circuit breakers and the concurrency
// gate. A Peer is safe for concurrent use; its configuration is immutable
// (build a new Peer when it changes, see Registry).
type Peer struct {
	cfg    PeerConfig
	roots  *x509.CertPool
	points []*point
	now    func() time.Time
	log    *slog.Logger
	rt     http.RoundTripper

	mu  sync.Mutex // guards rnd
	rnd *rand.Rand

	inflight atomic.Int64
}

// point is one service point with its client and breaker.
type point struct {
	sp      ServicePoint
	client  *osp.Client
	breaker *breaker
}

// NewPeer validates cfg and builds its runtime. It fails when cfg has no
// ID, no service point, or a service point that is not an http(s) URL.
func NewPeer(cfg PeerConfig, o PeerOptions) (*Peer, error) {
	if cfg.ID == "" {
		return nil, errors.New("federation: peer without id")
	}
	if len(cfg.ServicePoints) == 0 {
		return nil, fmt.Errorf("federation: peer %q has no service point", cfg.ID)
	}
	if cfg.Status == "" {
		cfg.Status = ledger.PeerActive
	}
	p := &Peer{cfg: cfg, now: o.Now, log: o.Logger, rnd: o.Rand}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.rnd == nil {
		p.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if len(cfg.TrustedCAs) > 0 {
		p.roots = x509.NewCertPool()
		for _, c := range cfg.TrustedCAs {
			p.roots.AddCert(c)
		}
	}
	p.rt = o.Transport
	if p.rt == nil {
		p.rt = &http.Transport{
			Proxy:               nil,
			TLSClientConfig:     p.TLSConfig(),
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
			ForceAttemptHTTP2:   false,
		}
	}
	for _, sp := range cfg.ServicePoints {
		u, err := url.Parse(sp.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("federation: peer %q: service point %q is not an http(s) URL", cfg.ID, sp.URL)
		}
		if sp.Weight < 0 {
			return nil, fmt.Errorf("federation: peer %q: service point %q has a negative weight", cfg.ID, sp.URL)
		}
		cl, err := osp.NewClient(osp.ClientConfig{
			ServicePoints: []string{sp.URL},
			// The forwarder bounds every attempt with its context; this
			// only backs it up.
			Timeout:   time.Minute,
			Transport: p.rt,
			Logger:    p.log,
		})
		if err != nil {
			return nil, fmt.Errorf("federation: peer %q: %w", cfg.ID, err)
		}
		p.points = append(p.points, &point{sp: sp, client: cl, breaker: newBreaker(o.Breaker, p.now)})
	}
	return p, nil
}

// ID returns the peer's id.
func (p *Peer) ID() string { return p.cfg.ID }

// Config returns the peer's configuration (slices shared: do not modify).
func (p *Peer) Config() PeerConfig { return p.cfg }

// Roots returns the pool of the peer's trusted CAs (nil when none), for
// verifying its tokens and TLS certificates.
func (p *Peer) Roots() *x509.CertPool { return p.roots }

// TLSConfig returns the client TLS configuration towards the peer: its
// trusted CAs as roots (system roots when none) and our client
// certificate for mutual TLS, TLS 1.2 at least.
func (p *Peer) TLSConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.roots}
	if p.cfg.ClientCertificate != nil {
		c.Certificates = []tls.Certificate{*p.cfg.ClientCertificate}
	}
	return c
}

// InFlight returns the number of forwarded authorisations in flight.
func (p *Peer) InFlight() int { return int(p.inflight.Load()) }

// Close releases idle connections.
func (p *Peer) Close() {
	for _, pt := range p.points {
		pt.client.CloseIdleConnections()
	}
}

// acquire takes a concurrency slot, or reports false at the limit.
func (p *Peer) acquire() bool {
	n := p.inflight.Add(1)
	if max := p.cfg.Limits.MaxConcurrent; max > 0 && n > int64(max) {
		p.inflight.Add(-1)
		return false
	}
	return true
}

func (p *Peer) release() { p.inflight.Add(-1) }

// candidate is a point chosen by order; probe marks a half-open point whose
// probe slot was taken (it must be reported or cancelled).
type candidate struct {
	pt    *point
	probe bool
}

// order returns the service points to try, in order: first the half-open
// points whose probe slot it took (a probe rides on a real request, or a
// recovered point would never be tried while the others work; a failed
// probe costs that request one attempt's share of its budget, once per
// cooldown), then the weighted points with a closed breaker in a weighted
// random order (a weighted shuffle without replacement), then the backups
// (weight 0) with a closed breaker in list order. Points with an open
// breaker are left out.
func (p *Peer) order() []candidate {
	var weighted, backup []*point
	var probes []candidate
	for _, pt := range p.points {
		switch pt.breaker.allow() {
		case allowYes:
			if pt.sp.Weight > 0 {
				weighted = append(weighted, pt)
			} else {
				backup = append(backup, pt)
			}
		case allowProbe:
			probes = append(probes, candidate{pt: pt, probe: true})
		}
	}
	out := make([]candidate, 0, len(weighted)+len(backup)+len(probes))
	out = append(out, probes...)
	total := 0
	for _, pt := range weighted {
		total += pt.sp.Weight
	}
	p.mu.Lock()
	for len(weighted) > 0 {
		r := p.rnd.IntN(total)
		i := 0
		for ; i < len(weighted)-1; i++ {
			r -= weighted[i].sp.Weight
			if r < 0 {
				break
			}
		}
		out = append(out, candidate{pt: weighted[i]})
		total -= weighted[i].sp.Weight
		weighted = append(weighted[:i], weighted[i+1:]...)
	}
	p.mu.Unlock()
	for _, pt := range backup {
		out = append(out, candidate{pt: pt})
	}
	return out
}
