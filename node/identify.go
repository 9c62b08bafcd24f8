package node

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"slices"

	"github.com/ospnode/ospnode/ledger"
)

// caller is what the transport tells us about who sent a request.
type caller struct {
	addr netip.Addr        // remote IP (unmapped)
	cert *x509.Certificate // verified client certificate, if any
}

func callerOf(r *http.Request) caller {
	var c caller
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.addr = ap.Addr().Unmap()
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && len(r.TLS.VerifiedChains) > 0 {
		c.cert = r.TLS.PeerCertificates[0]
	}
	return c
}

// mayBeMember reports, without decoding the request, whether anything
// could identify its sender: a known certificate, a source address inside
// some member's addresses, or a member that opted in to DeviceId/CustomerId
// alone (Credentials.IdentifyByIDs). Requests for which it is false are refused before their body is
// read (cheap refusal of unknown sources).
func (v *view) mayBeMember(c caller) bool {
	if c.cert != nil {
		if _, ok := v.byCert(c.cert); ok {
			return true
		}
	}
	for _, a := range v.addrs {
		if a.prefix.Contains(c.addr) {
			return true
		}
	}
	return len(v.claimable) > 0
}

func (v *view) byCert(cert *x509.Certificate) (string, bool) {
	sum := sha256.Sum256(cert.Raw)
	if id, ok := v.certFP[hex.EncodeToString(sum[:])]; ok {
		return id, true
	}
	id, ok := v.certSubj[cert.Subject.String()]
	return id, ok
}

// identify finds the member that sent a request. In order of strength:
//  1. a verified client certificate listed by a member (fingerprint or
//     subject) decides alone;
//  2. the source address: the members whose addresses contain it, most
//     specific prefix first (127.0.0.3/32 beats 127.0.0.0/8); a tie is
//     broken by the request's DeviceId/CustomerId, then by the IP of its
//     DeviceInfo; a tie that remains is refused (ambiguous);
//  3. no address match: a member listing the request's DeviceId or
//     CustomerId that opted in with Credentials.IdentifyByIDs (these are
//     self-declared and can be spoofed: never without the opt-in).
//
// It returns nil when no member (or more than one) matches.
func (v *view) identify(c caller, deviceID, customerID, deviceInfo string) *ledger.Member {
	if c.cert != nil {
		if id, ok := v.byCert(c.cert); ok {
			return v.members[id]
		}
	}
	best, bits := []string(nil), -1
	for _, a := range v.addrs {
		if !a.prefix.Contains(c.addr) {
			continue
		}
		switch b := a.prefix.Bits(); {
		case b > bits:
			best, bits = append(best[:0], a.member), b
		case b == bits && !slices.Contains(best, a.member):
			best = append(best, a.member)
		}
	}
	if len(best) == 0 {
		for _, id := range v.byIDs(nil, deviceID, customerID) {
			if v.claimable[id] {
				best = append(best, id)
			}
		}
	} else if len(best) > 1 {
		if n := v.byIDs(best, deviceID, customerID); len(n) > 0 {
			best = n
		}
		if len(best) > 1 && deviceInfo != "" {
			if ip, ok := transportIP(deviceInfo); ok {
				var n []string
				for _, id := range best {
					for _, a := range v.addrs {
						if a.member == id && a.prefix.Contains(ip) && !slices.Contains(n, id) {
							n = append(n, id)
						}
					}
				}
				if len(n) > 0 {
					best = n
				}
			}
		}
	}
	if len(best) != 1 {
		return nil
	}
	return v.members[best[0]]
}

// byIDs returns the members (among within, or all when within is nil)
// listing deviceID or customerID.
func (v *view) byIDs(within []string, deviceID, customerID string) []string {
	var out []string
	add := func(ids []string) {
		for _, id := range ids {
			if (within == nil || slices.Contains(within, id)) && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	if deviceID != "" {
		add(v.devices[deviceID])
	}
	if customerID != "" {
		add(v.customers[customerID])
	}
	return out
}

// transportIP parses the IP of an OSP transport address: "[10.0.0.2]:5060",
// "[10.0.0.1]", "10.0.0.2:5060" or "10.0.0.2".
func transportIP(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}
