package ledger

import (
	"encoding/json"
	"net/netip"
	"reflect"

	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
)

const maxIDLen = 256

func validID(id string) bool { return id != "" && len(id) <= maxIDLen }

func (a *applier) setNetwork(c *SetNetwork) *Result {
	if r := a.checkNetwork(c.Network); r != nil {
		return r
	}
	return a.writeNetwork(c.Network)
}

// createNetwork is SetNetwork version 2: the network is written only when
// the ledger has none, so that of two concurrent `network init`s exactly
// one wins on every replica.
func (a *applier) createNetwork(c *CreateNetwork) *Result {
	n := c.Network
	if r := a.checkNetwork(n); r != nil {
		return r
	}
	if old := a.network(); old.ID != "" {
		if sameNetwork(old, n) {
			return &Result{Code: Duplicate, Message: "network " + old.ID + " already exists with these settings"}
		}
		basis := old.BillingBasis
		if basis == "" {
			basis = BasisOwn
		}
		return rejected("a network is already initialised: %s (%q, %s, txid epoch %d, billing basis %s)",
			old.ID, old.Name, old.Currency, old.TxIDEpoch, basis)
	}
	return a.writeNetwork(n)
}

// sameNetwork compares two networks, an empty billing basis being "own".
func sameNetwork(a, b Network) bool {
	if a.BillingBasis == "" {
		a.BillingBasis = BasisOwn
	}
	if b.BillingBasis == "" {
		b.BillingBasis = BasisOwn
	}
	a.Address, b.Address = nilIfEmpty(a.Address), nilIfEmpty(b.Address)
	return reflect.DeepEqual(a, b)
}

// nilIfEmpty makes an empty list nil: the two encode alike (omitempty),
// so they must compare alike.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// checkNetwork validates a network identity (nil: valid).
func (a *applier) checkNetwork(n Network) *Result {
	if !validID(n.ID) {
		return invalid("network id is required")
	}
	if !money.ValidCurrency(n.Currency) {
		return invalid("network currency %q is not an ISO 4217 code", n.Currency)
	}
	if n.TxIDEpoch > maxEpoch {
		return invalid("txid epoch %d above %d", n.TxIDEpoch, maxEpoch)
	}
	if n.TxIDNetwork != 0 && n.TxIDEpoch > maxNumberedEpoch {
		return invalid("txid epoch %d above %d (a numbered network has 3 epoch bits)", n.TxIDEpoch, maxNumberedEpoch)
	}
	if old := a.network(); old.TxIDNetwork != n.TxIDNetwork && a.issuedTransactions() {
		// Its ids so far are in the other layout: a new number could
		// reissue one of them, and the index could no longer be read.
		return invalid("txid network %d: this ledger has issued transaction ids under network number %d, which it keeps", n.TxIDNetwork, old.TxIDNetwork)
	}
	if !n.BillingBasis.Valid() {
		return invalid("billing basis %q: want own, source, destination or shorter", n.BillingBasis)
	}
	return billingInvalid("network "+n.ID, n.BillingIdentity)
}

func (a *applier) writeNetwork(n Network) *Result {
	putJSON(a.meta, kNetwork, n)
	a.net, a.netLoaded = n, true
	a.bumpGen(&a.gens.Network)
	return &Result{Code: OK}
}

// issuedTransactions reports whether any transaction exists.
func (a *applier) issuedTransactions() bool {
	k, _ := a.tx.Bucket(bTx).Cursor().First()
	return k != nil
}

func (a *applier) putMember(c *PutMember) *Result {
	m := c.Member
	if !validID(m.ID) {
		return invalid("member id is required (at most %d bytes)", maxIDLen)
	}
	switch m.Status {
	case "":
		m.Status = MemberActive
	case MemberActive, MemberSuspended:
	default:
		return invalid("member %q: status %q (want active or suspended)", m.ID, m.Status)
	}
	switch m.TokenKind {
	case "", TokenSigned, TokenText, TokenXML:
	default:
		return invalid("member %q: token kind %q (want signed, text or xml)", m.ID, m.TokenKind)
	}
	if m.CPSLimit < 0 || m.ConcurrentLimit < 0 {
		return invalid("member %q: negative limit", m.ID)
	}
	if m.CreditLimit.Sign() < 0 {
		return invalid("member %q: negative credit limit", m.ID)
	}
	for _, p := range m.BlockedPrefixes {
		if !e164.IsDigits(p) || p == "" {
			return invalid("member %q: blocked prefix %q is not digits", m.ID, p)
		}
	}
	for _, s := range m.Credentials.SourceAddrs {
		if _, err := netip.ParsePrefix(s); err != nil {
			if _, err := netip.ParseAddr(s); err != nil {
				return invalid("member %q: source address %q is not an IP address or CIDR", m.ID, s)
			}
		}
	}
	if r := billingInvalid("member "+m.ID, m.BillingIdentity); r != nil {
		return r
	}
	putJSON(a.bucket(bMembers), []byte(m.ID), m)
	a.bumpGen(&a.gens.Members)
	return &Result{Code: OK}
}

func (a *applier) setMemberStatus(c *SetMemberStatus) *Result {
	if c.Status != MemberActive && c.Status != MemberSuspended {
		return invalid("status %q (want active or suspended)", c.Status)
	}
	b := a.bucket(bMembers)
	raw := b.Get([]byte(c.ID))
	if raw == nil || c.ID == "" {
		return notFound("member %q not found", c.ID)
	}
	var m Member
	must(json.Unmarshal(raw, &m))
	m.Status = c.Status
	putJSON(b, []byte(m.ID), m)
	a.bumpGen(&a.gens.Members)
	return &Result{Code: OK}
}

func (a *applier) putTrunk(c *PutTrunk) *Result {
	t := c.Trunk
	if !validID(t.ID) || t.Address == "" {
		return invalid("trunk id and address are required")
	}
	if t.Weight < 0 || t.Priority < 0 || t.Capacity < 0 {
		return invalid("trunk %q: negative weight, priority or capacity", t.ID)
	}
	if t.MemberID == "" || a.bucket(bMembers).Get([]byte(t.MemberID)) == nil {
		return rejected("trunk %q: member %q does not exist", t.ID, t.MemberID)
	}
	putJSON(a.bucket(bTrunks), []byte(t.ID), t)
	a.bumpGen(&a.gens.Trunks)
	return &Result{Code: OK}
}

func (a *applier) putPeer(c *PutPeer) *Result {
	p := c.Peer
	if !validID(p.ID) {
		return invalid("peer id is required")
	}
	switch p.Status {
	case "":
		p.Status = PeerActive
	case PeerActive, PeerDisabled:
	default:
		return invalid("peer %q: status %q (want active or disabled)", p.ID, p.Status)
	}
	for _, sp := range p.ServicePoints {
		if sp.URL == "" || sp.Weight < 0 {
			return invalid("peer %q: service point needs a URL and a weight >= 0", p.ID)
		}
	}
	if p.CPSLimit < 0 || p.ConcurrentLimit < 0 {
		return invalid("peer %q: negative limit", p.ID)
	}
	if r := billingInvalid("peer "+p.ID, p.BillingIdentity); r != nil {
		return r
	}
	putJSON(a.bucket(bPeers), []byte(p.ID), p)
	a.bumpGen(&a.gens.Peers)
	return &Result{Code: OK}
}

// putRoutes does not check that candidates exist: tables are imported in
// any order, and node skips a candidate whose trunk or peer is missing.
func (a *applier) putRoutes(c *PutRoutes) *Result {
	seen := make(map[string]bool, len(c.Routes))
	for i := range c.Routes {
		r := &c.Routes[i]
		if !e164.IsDigits(r.Prefix) || len(r.Prefix) > 32 {
			return invalid("route %d: prefix %q is not E.164 digits", i, r.Prefix)
		}
		if seen[r.Prefix] {
			return invalid("route %d: prefix %q repeated in one command", i, r.Prefix)
		}
		seen[r.Prefix] = true
		if r.Quality != nil {
			if why := r.Quality.check(); why != "" {
				return invalid("route %q: %s", r.Prefix, why)
			}
		}
		for _, cand := range r.Candidates {
			if cand.Kind != CandidateTrunk && cand.Kind != CandidatePeer {
				return invalid("route %q: candidate kind %q (want trunk or peer)", r.Prefix, cand.Kind)
			}
			if cand.ID == "" || cand.Strip < 0 || cand.Weight < 0 || cand.Priority < 0 || !e164.IsDigits(cand.AddPrefix) {
				return invalid("route %q: candidate %q needs an id, non-negative strip/weight/priority and a digit add-prefix", r.Prefix, cand.ID)
			}
		}
	}
	if c.ReplaceAll {
		must(a.tx.DeleteBucket(bRoutes))
		_, err := a.tx.CreateBucket(bRoutes)
		must(err)
	}
	b := a.bucket(bRoutes)
	for i := range c.Routes {
		putJSON(b, routeKey(c.Routes[i].Prefix), c.Routes[i])
	}
	a.bumpGen(&a.gens.Routes)
	return &Result{Code: OK, Count: len(c.Routes)}
}

func (a *applier) putDeckVersion(c *PutDeckVersion) *Result {
	dv := c.Version
	if !validID(dv.DeckID) || dv.Counterparty == "" {
		return invalid("deck id and counterparty are required")
	}
	if dv.Direction != DirectionSell && dv.Direction != DirectionBuy {
		return invalid("deck %q: direction %q (want sell or buy)", dv.DeckID, dv.Direction)
	}
	if !money.ValidCurrency(dv.Currency) {
		return invalid("deck %q: currency %q is not an ISO 4217 code", dv.DeckID, dv.Currency)
	}
	if dv.Decimals < 0 || dv.Decimals > 12 {
		return invalid("deck %q: decimals %d (want 0..12)", dv.DeckID, dv.Decimals)
	}
	if _, err := money.Rounder(dv.RoundingMode); err != nil {
		return invalid("deck %q: %v", dv.DeckID, err)
	}
	switch dv.DurationRounding {
	case "", money.Up, money.HalfUp, money.Down:
	default:
		return invalid("deck %q: duration rounding %q (want up, half-up or down)", dv.DeckID, dv.DurationRounding)
	}
	if !nanoSafe(dv.EffectiveFrom, dv.EffectiveUntil) {
		return invalid("deck %q: effective dates out of range", dv.DeckID)
	}
	if dv.EffectiveFrom.IsZero() {
		return invalid("deck %q: effective-from is required", dv.DeckID)
	}
	if !dv.EffectiveUntil.IsZero() && !dv.EffectiveUntil.After(dv.EffectiveFrom) {
		return invalid("deck %q: effective-until must be after effective-from", dv.DeckID)
	}
	seen := make(map[string]bool, len(dv.Rows))
	for i, row := range dv.Rows {
		if row.Prefix == "" || !e164.IsDigits(row.Prefix) || len(row.Prefix) > 32 {
			return invalid("deck %q row %d: prefix %q is not E.164 digits", dv.DeckID, i, row.Prefix)
		}
		if seen[row.Prefix] {
			return invalid("deck %q row %d: prefix %q repeated", dv.DeckID, i, row.Prefix)
		}
		seen[row.Prefix] = true
		if row.Rate.Currency() != dv.Currency || row.Rate.Sign() < 0 {
			return invalid("deck %q row %d: rate %s must be a non-negative %s amount", dv.DeckID, i, row.Rate, dv.Currency)
		}
		if !(row.ConnectFee.Currency() == dv.Currency || (row.ConnectFee.Currency() == "" && row.ConnectFee.IsZero())) || row.ConnectFee.Sign() < 0 {
			return invalid("deck %q row %d: connect fee %s must be a non-negative %s amount", dv.DeckID, i, row.ConnectFee, dv.Currency)
		}
		if row.FirstIncrement < 0 || row.NextIncrement < 1 {
			return invalid("deck %q row %d: increments %d/%d (want first >= 0, next >= 1)", dv.DeckID, i, row.FirstIncrement, row.NextIncrement)
		}
	}
	rows := dv.Rows
	header := dv
	header.Rows = nil
	decks := a.bucket(bDecks)
	deck, err := decks.CreateBucketIfNotExists([]byte(dv.DeckID))
	must(err)
	vk := timeKey(dv.EffectiveFrom)
	if c.AppendRows {
		vb := deck.Bucket(vk)
		if vb == nil {
			return notFound("deck %q has no version effective %s to append to", dv.DeckID, dv.EffectiveFrom.UTC().Format("2006-01-02T15:04:05Z07:00"))
		}
		var old DeckVersion
		must(json.Unmarshal(vb.Get(kDeckHeader), &old))
		if !reflect.DeepEqual(headerJSON(old), headerJSON(header)) {
			return rejected("deck %q: appended rows carry a different header", dv.DeckID)
		}
		rb := vb.Bucket(kDeckRows)
		for _, row := range rows {
			if rb.Get([]byte(row.Prefix)) != nil {
				return rejected("deck %q: prefix %q already in this version", dv.DeckID, row.Prefix)
			}
		}
		for _, row := range rows {
			putJSON(rb, []byte(row.Prefix), row)
		}
	} else {
		if deck.Bucket(vk) != nil {
			must(deck.DeleteBucket(vk))
		}
		vb, err := deck.CreateBucket(vk)
		must(err)
		putJSON(vb, kDeckHeader, header)
		rb, err := vb.CreateBucket(kDeckRows)
		must(err)
		for _, row := range rows {
			putJSON(rb, []byte(row.Prefix), row)
		}
	}
	a.bumpGen(&a.gens.Decks)
	return &Result{Code: OK, Count: len(rows)}
}

func headerJSON(d DeckVersion) string {
	d.Rows = nil
	b, err := json.Marshal(d)
	must(err)
	return string(b)
}

func (a *applier) revokeCert(c *RevokeCert) *Result {
	if !nanoSafe(c.At) {
		return invalid("revoke: time out of range")
	}
	serial := NormalizeSerial(c.Serial)
	if c.Serial == "" || len(serial) > 128 {
		return invalid("serial is required")
	}
	for i := 0; i < len(serial); i++ {
		if !(serial[i] >= '0' && serial[i] <= '9' || serial[i] >= 'a' && serial[i] <= 'f') {
			return invalid("serial %q is not hex", c.Serial)
		}
	}
	b := a.bucket(bRevoked)
	if b.Get([]byte(serial)) != nil {
		return &Result{Code: Duplicate, Message: "already revoked"}
	}
	putJSON(b, []byte(serial), RevokedCert{Serial: serial, At: c.At, Reason: c.Reason})
	a.bumpGen(&a.gens.Revoked)
	return &Result{Code: OK}
}
