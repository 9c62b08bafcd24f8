package testnet

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/osp"

	"github.com/ospnode/ospnode/ledger"
)

// LoadOptions returns base with what a run against this network needs
// filled in where base leaves it empty: every running node's OSP URL (with
// Failover, as a toolkit with all the network's service points), carrier A
// as the source proxy and carrier B as the terminating proxy of the
// default seed (each dialling from its loopback address), the network's CA
// as token trust anchor, and called numbers in 33, 44 and 49 (routed by
// the default seed).
func (nw *Network) LoadOptions(base LoadOptions) LoadOptions {
	o := base
	if len(o.URLs) == 0 {
		o.URLs = nw.OSPURLs()
		o.Failover = true
	}
	if o.Source == (Party{}) {
		o.Source = Party{CustomerID: CarrierADevice, DeviceID: CarrierADevice, Address: "[" + CarrierASource + "]:5060", Bind: CarrierASource}
	}
	if o.Destination == (Party{}) {
		o.Destination = Party{Bind: CarrierBSource}
	}
	if o.TokenRoots == nil && !o.AcceptUnsigned {
		pool := x509.NewCertPool()
		if pool.AppendCertsFromPEM(nw.caPEM) {
			o.TokenRoots = pool
		}
	}
	if len(o.CalledCountries) == 0 {
		o.CalledCountries = []string{"33", "44", "49"}
	}
	return o
}

// UsageKey is the idempotency key of a usage report with a transaction id.
type UsageKey struct {
	TransactionID uint64
	Role          string // "source" or "destination"
	ComponentID   string
}

// UsageCounts reads every usage record of store and counts them by key
// (records without a transaction id are keyed by Reporter/ReporterKey in
// ComponentID, with TransactionID 0 and Role "reporter").
func UsageCounts(store *ledger.Store) (map[UsageKey]int, error) {
	out := map[UsageKey]int{}
	var after uint64
	for {
		page, err := store.ListUsage(ledger.UsageFilter{After: after, Limit: 10000})
		if err != nil {
			return nil, fmt.Errorf("testnet: list usage: %w", err)
		}
		for _, u := range page {
			k := UsageKey{TransactionID: u.TransactionID, Role: u.Role.String(), ComponentID: u.ComponentID}
			if u.TransactionID == 0 {
				k = UsageKey{Role: "reporter", ComponentID: u.Reporter + "/" + u.ReporterKey}
			}
			out[k]++
			after = u.ID
		}
		if len(page) < 10000 {
			return out, nil
		}
	}
}

// VerifyExactlyOnce checks that every confirmed usage is present exactly
// once on every running node's ledger (read in-process, not through the
// admin API). It is a LoadOptions.Verify function once bound:
// func(ctx, c) error { return nw.VerifyExactlyOnce(c) }.
func (nw *Network) VerifyExactlyOnce(confirmed []ConfirmedUsage) error {
	for _, n := range nw.Nodes() {
		counts, err := UsageCounts(n.Store())
		if err != nil {
			return err
		}
		var missing []ConfirmedUsage
		for _, c := range confirmed {
			switch got := counts[UsageKey{c.TransactionID, c.Role, c.ComponentID}]; {
			case got == 0:
				missing = append(missing, c)
			case got > 1:
				return fmt.Errorf("testnet: %s: usage txid %d %s %s recorded %d times", n.ID(), c.TransactionID, c.Role, c.ComponentID, got)
			}
		}
		if len(missing) > 0 {
			e := &MissingUsageError{Count: len(missing), Missing: missing[:min(len(missing), 100)]}
			return fmt.Errorf("testnet: %s: %w", n.ID(), e)
		}
	}
	return nil
}

// HasUsage implements UsageLedger on the network's leader (or first
// running node), reading its ledger in-process.
func (nw *Network) HasUsage(_ context.Context, u ConfirmedUsage) (bool, error) {
	n := nw.Leader()
	if n == nil {
		nodes := nw.Nodes()
		if len(nodes) == 0 {
			return false, ErrNodeDown
		}
		n = nodes[0]
	}
	counts, err := UsageCounts(n.Store())
	if err != nil {
		return false, err
	}
	return counts[UsageKey{u.TransactionID, u.Role, u.ComponentID}] > 0, nil
}

// Authorize sends one AuthorizationRequest for a call from calling to
// called to the OSP service point url, as the proxy src (dialling from
// src.Bind), and returns the AuthorizationResponse when the answer is a
// 2xx with at least one destination. Any other outcome is an error. It
// uses a fresh connection, so it can probe each node of a network.
func Authorize(ctx context.Context, url string, src Party, calling, called string) (*osp.AuthorizationResponse, error) {
	c, done, err := partyClient(url, src)
	if err != nil {
		return nil, err
	}
	defer done()
	seq := authSeq.Add(1)
	id := fmt.Sprintf("%d%06d", time.Now().UnixNano(), seq)
	m := &osp.Message{MessageID: id, Random: "1", Components: []osp.Component{{ID: id,
		AuthorizationRequest: &osp.AuthorizationRequest{
			Timestamp: time.Now().UTC().Truncate(time.Second),
			CallIDs:   []osp.Binary{osp.Binary("testnet-" + id)},
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
				DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: src.Address}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: called}},
				CustomerID:      src.CustomerID,
				DeviceID:        src.DeviceID,
			},
			Service:             &osp.Service{},
			MaximumDestinations: 5,
		}}}}
	resp, err := c.Do(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("testnet: authorize at %s: %w", url, err)
	}
	if len(resp.Components) != 1 || resp.Components[0].AuthorizationResponse == nil {
		return nil, fmt.Errorf("testnet: authorize at %s: answer is not one AuthorizationResponse", url)
	}
	ar := resp.Components[0].AuthorizationResponse
	if ar.Status.Code/100 != 2 || len(ar.Destinations) == 0 {
		return ar, fmt.Errorf("testnet: authorize at %s: status %d, %d destinations", url, ar.Status.Code, len(ar.Destinations))
	}
	return ar, nil
}

// ReportUsage sends one UsageIndication as the proxy src for transaction
// txid (role osp.RoleSource or osp.RoleDestination): the call with callID
// from calling to called lasted seconds. It returns nil when the
// confirmation's status is 2xx.
func ReportUsage(ctx context.Context, url string, src Party, role string, txid uint64, callID, calling, called string, seconds int) error {
	c, done, err := partyClient(url, src)
	if err != nil {
		return err
	}
	defer done()
	id := fmt.Sprintf("%d%06d", time.Now().UnixNano(), authSeq.Add(1))
	m := &osp.Message{MessageID: id, Components: []osp.Component{{ID: id,
		UsageIndication: &osp.UsageIndication{
			Timestamp:     time.Now().UTC().Truncate(time.Second),
			Role:          role,
			TransactionID: txid,
			CallID:        osp.Binary(callID),
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: called}},
				CustomerID:      src.CustomerID,
				DeviceID:        src.DeviceID,
			},
			UsageDetail: &osp.UsageDetail{Service: &osp.Service{}, Amount: strconv.Itoa(seconds), Increment: 1, Unit: osp.UnitSeconds},
		}}}}
	resp, err := c.Do(ctx, m)
	if err != nil {
		return fmt.Errorf("testnet: usage at %s: %w", url, err)
	}
	if len(resp.Components) != 1 || resp.Components[0].UsageConfirmation == nil {
		return fmt.Errorf("testnet: usage at %s: answer is not one UsageConfirmation", url)
	}
	if code := resp.Components[0].UsageConfirmation.Status.Code; code/100 != 2 {
		return fmt.Errorf("testnet: usage at %s: status %d", url, code)
	}
	return nil
}

// partyClient returns an OSP client for url whose connections leave from
// src.Bind, one connection per request, and a function releasing it.
func partyClient(url string, src Party) (*osp.Client, func(), error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src.Bind != "" {
		ip, err := netip.ParseAddr(src.Bind)
		if err != nil {
			return nil, nil, fmt.Errorf("testnet: bind %q: %w", src.Bind, err)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice()}
	}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	c, err := osp.NewClient(osp.ClientConfig{ServicePoints: []string{url}, Transport: tr, Timeout: 10 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	return c, tr.CloseIdleConnections, nil
}

var authSeq atomic.Uint64

// CarrierAParty is the default seed's carrier A as a source proxy.
func CarrierAParty() Party {
	return Party{CustomerID: CarrierADevice, DeviceID: CarrierADevice, Address: "[" + CarrierASource + "]:5060", Bind: CarrierASource}
}
