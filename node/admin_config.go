package node

import (
	"net/http"
	"strings"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/e164"
)

// Members, trunks, peers, the federation outbox and certificate
// revocation: plain records read from the local replica and written
// through Propose.
func (n *Node) adminConfigRoutes(mux *http.ServeMux) {
	h := n.adminHandle

	mux.HandleFunc("GET /v1/members", h(func(r *http.Request) (int, any, error) {
		ms, err := n.store.Members()
		return http.StatusOK, emptyIfNil(ms), err
	}))
	mux.HandleFunc("GET /v1/members/{id}", h(func(r *http.Request) (int, any, error) {
		m, err := n.store.Member(r.PathValue("id"))
		if isNotFound(err) {
			return 0, nil, notFound("member %q not found", r.PathValue("id"))
		}
		return http.StatusOK, m, err
	}))
	mux.HandleFunc("PUT /v1/members/{id}", h(func(r *http.Request) (int, any, error) {
		var m ledger.Member
		if err := readJSON(nil, r, &m); err != nil {
			return 0, nil, err
		}
		id := r.PathValue("id")
		if m.ID != "" && m.ID != id {
			return 0, nil, badRequest("body id %q differs from path id %q", m.ID, id)
		}
		m.ID = id
		if m.Status == "" {
			m.Status = ledger.MemberActive
		}
		if m.Status != ledger.MemberActive && m.Status != ledger.MemberSuspended {
			return 0, nil, badRequest("status %q: want active or suspended", m.Status)
		}
		for _, a := range m.Credentials.SourceAddrs {
			if _, err := parseAddrOrPrefix(a); err != nil {
				return 0, nil, badRequest("source address %q: %v", a, err)
			}
		}
		for _, p := range m.BlockedPrefixes {
			if !e164.IsDigits(p) {
				return 0, nil, badRequest("blocked prefix %q: want E.164 digits", p)
			}
		}
		switch m.TokenKind {
		case "", ledger.TokenSigned, ledger.TokenText, ledger.TokenXML:
		default:
			return 0, nil, badRequest("token_kind %q: want signed, text or xml", m.TokenKind)
		}
		if probs := m.BillingIdentity.Problems(); len(probs) > 0 {
			return 0, nil, badRequest("%s", strings.Join(probs, "; "))
		}
		if _, err := n.adminApply(r, ledger.PutMember{Member: m}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, m, nil
	}))
	for _, s := range []struct {
		verb   string
		status ledger.MemberStatus
	}{{"suspend", ledger.MemberSuspended}, {"activate", ledger.MemberActive}} {
		mux.HandleFunc("POST /v1/members/{id}/"+s.verb, h(func(r *http.Request) (int, any, error) {
			id := r.PathValue("id")
			if _, err := n.adminApply(r, ledger.SetMemberStatus{ID: id, Status: s.status}); err != nil {
				return 0, nil, err
			}
			m, err := n.store.Member(id)
			return http.StatusOK, m, err
		}))
	}

	mux.HandleFunc("GET /v1/trunks", h(func(r *http.Request) (int, any, error) {
		ts, err := n.store.Trunks(r.URL.Query().Get("member"))
		return http.StatusOK, emptyIfNil(ts), err
	}))
	mux.HandleFunc("PUT /v1/trunks/{id}", h(func(r *http.Request) (int, any, error) {
		var t ledger.Trunk
		if err := readJSON(nil, r, &t); err != nil {
			return 0, nil, err
		}
		id := r.PathValue("id")
		if t.ID != "" && t.ID != id {
			return 0, nil, badRequest("body id %q differs from path id %q", t.ID, id)
		}
		t.ID = id
		if t.MemberID == "" || t.Address == "" {
			return 0, nil, badRequest("a trunk needs member_id and address")
		}
		if t.Weight < 0 || t.Priority < 0 || t.Capacity < 0 {
			return 0, nil, badRequest("weight, priority and capacity must not be negative")
		}
		if _, err := n.store.Member(t.MemberID); isNotFound(err) {
			return 0, nil, notFound("member %q not found", t.MemberID)
		}
		if _, err := n.adminApply(r, ledger.PutTrunk{Trunk: t}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, t, nil
	}))
	mux.HandleFunc("DELETE /v1/trunks/{id}", h(func(r *http.Request) (int, any, error) {
		if _, err := n.adminApply(r, ledger.RemoveTrunk{ID: r.PathValue("id")}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"removed": r.PathValue("id")}, nil
	}))

	mux.HandleFunc("GET /v1/peers", h(func(r *http.Request) (int, any, error) {
		ps, err := n.store.Peers()
		return http.StatusOK, emptyIfNil(ps), err
	}))
	mux.HandleFunc("GET /v1/peers/{id}", h(func(r *http.Request) (int, any, error) {
		p, err := n.store.Peer(r.PathValue("id"))
		if isNotFound(err) {
			return 0, nil, notFound("peer %q not found", r.PathValue("id"))
		}
		return http.StatusOK, p, err
	}))
	mux.HandleFunc("PUT /v1/peers/{id}", h(func(r *http.Request) (int, any, error) {
		var p ledger.Peer
		if err := readJSON(nil, r, &p); err != nil {
			return 0, nil, err
		}
		id := r.PathValue("id")
		if p.ID != "" && p.ID != id {
			return 0, nil, badRequest("body id %q differs from path id %q", p.ID, id)
		}
		p.ID = id
		if p.Status == "" {
			p.Status = ledger.PeerActive
		}
		if p.Status != ledger.PeerActive && p.Status != ledger.PeerDisabled {
			return 0, nil, badRequest("status %q: want active or disabled", p.Status)
		}
		if len(p.ServicePoints) == 0 {
			return 0, nil, badRequest("a peer needs at least one service point")
		}
		for _, sp := range p.ServicePoints {
			if !strings.HasPrefix(sp.URL, "http://") && !strings.HasPrefix(sp.URL, "https://") {
				return 0, nil, badRequest("service point %q: want an http:// or https:// URL", sp.URL)
			}
			if sp.Weight < 0 {
				return 0, nil, badRequest("service point %q: negative weight", sp.URL)
			}
		}
		for i, pem := range p.TrustedCAs {
			if !strings.Contains(pem, "-----BEGIN CERTIFICATE-----") {
				return 0, nil, badRequest("trusted_cas[%d]: not a PEM certificate", i)
			}
		}
		if probs := p.BillingIdentity.Problems(); len(probs) > 0 {
			return 0, nil, badRequest("%s", strings.Join(probs, "; "))
		}
		if _, err := n.adminApply(r, ledger.PutPeer{Peer: p}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, p, nil
	}))
	mux.HandleFunc("DELETE /v1/peers/{id}", h(func(r *http.Request) (int, any, error) {
		if _, err := n.adminApply(r, ledger.RemovePeer{ID: r.PathValue("id")}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"removed": r.PathValue("id")}, nil
	}))
	mux.HandleFunc("GET /v1/outbox", h(func(r *http.Request) (int, any, error) {
		limit, err := intParam(r, "limit", 100, 1, 10000)
		if err != nil {
			return 0, nil, err
		}
		items, err := n.store.PendingOutbox(r.URL.Query().Get("peer"), limit)
		return http.StatusOK, emptyIfNil(items), err
	}))

	mux.HandleFunc("POST /v1/certs/revoke", h(func(r *http.Request) (int, any, error) {
		var body struct {
			Serial string `json:"serial"`
			Reason string `json:"reason"`
		}
		if err := readJSON(nil, r, &body); err != nil {
			return 0, nil, err
		}
		s := strings.ReplaceAll(strings.TrimSpace(body.Serial), ":", "")
		if s == "" || !isHex(s) {
			return 0, nil, badRequest("serial %q: want a hexadecimal certificate serial", body.Serial)
		}
		rc := ledger.RevokeCert{Serial: body.Serial, At: n.now().UTC(), Reason: body.Reason}
		if _, err := n.adminApply(r, rc); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, ledger.RevokedCert{Serial: ledger.NormalizeSerial(body.Serial), At: rc.At, Reason: rc.Reason}, nil
	}))
	mux.HandleFunc("GET /v1/certs/revoked", h(func(r *http.Request) (int, any, error) {
		cs, err := n.store.RevokedCerts()
		return http.StatusOK, emptyIfNil(cs), err
	}))
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
