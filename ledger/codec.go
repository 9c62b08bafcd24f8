package ledger

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandVersion is the payload version this build writes for every type
// but RecordUsage and Authorize (byte 1 of the envelope). A version this build does not
// know panics in Apply, like an unknown non-ignorable type.
const CommandVersion = 1

// RecordUsageVersion is the version this build writes for RecordUsage.
// Version 2 has the payload of version 1 and changes two apply rules (see
// DESIGN.md, "Usage, postings, idempotency"): the post-once key includes
// the role, and only source-role usage is cascaded to the upstream peer.
// Version 1 entries of an existing log are applied with the old rules, so
// a replay reproduces exactly the state they produced.
const RecordUsageVersion = 2

// RecordUsageVersionOverLimit is the version written for a RecordUsage
// whose OverLimit is set: the version 2 payload and rules plus a trailing
// OverLimit flag. A command without the flag is still written as version
// 2 (the same bytes as before the flag existed), so a log without
// over-limit usage replays byte for byte on older builds and the state
// digest does not change.
const RecordUsageVersionOverLimit = 3

// RecordUsageVersionLifecycle is the version written for a RecordUsage
// with a Phase (ledger/lifecycle.go): version 3's payload with the
// OverLimit flag always present, then the phase and the Matched flag.
const RecordUsageVersionLifecycle = 4

// RecordUsageVersionPerSide is version 4 plus, for the Rating and the
// Adjust rating, the buy side's billable seconds when they differ from the
// sell side's (Rating.BuyBillableSeconds). Written only for a usage whose
// rating carries them, so every other usage keeps its version 4 bytes.
const RecordUsageVersionPerSide = 5

// AuthorizeVersion is the version this build writes for Authorize.
// Version 2 has the payload of version 1 and adds field bounds (Invalid
// over them, see limits.go) and an idempotency key whose long components
// are hashed. Version 1 entries replay with the old rules, except that a
// key bbolt refuses is now Invalid instead of a panic.
const AuthorizeVersion = 2

// AuthorizeVersionAdmission adds ActiveUntil and Hold (cluster-wide
// admission). It is written only for a command that asks for admission,
// so a log without it replays byte for byte on older builds, as with
// RecordUsageVersionOverLimit.
const AuthorizeVersionAdmission = 3

// SetNetworkVersionCreate is the SetNetwork version that carries a
// CreateNetwork: the version 1 payload (a network), applied create-only.
// Version 1 entries still replace, so an existing log replays as before.
const SetNetworkVersionCreate = 2

// Encode renders cmd as an envelope: byte 0 the type, byte 1 the version,
// then the payload (compact binary for Authorize and RecordUsage, JSON for
// the configuration commands). It fails only for an unencodable value.
func Encode(cmd Command) ([]byte, error) {
	switch c := cmd.(type) {
	case Authorize:
		return encodeAuthorize(&c), nil
	case *Authorize:
		return encodeAuthorize(c), nil
	case RecordUsage:
		return encodeRecordUsage(&c), nil
	case *RecordUsage:
		return encodeRecordUsage(c), nil
	case CreateNetwork:
		return encodeJSON(TypeSetNetwork, SetNetworkVersionCreate, c)
	case *CreateNetwork:
		return encodeJSON(TypeSetNetwork, SetNetworkVersionCreate, c)
	case PutRoutes:
		return encodeJSONCommand(cmd, routesVersion(&c))
	case *PutRoutes:
		return encodeJSONCommand(cmd, routesVersion(c))
	case nil:
		return nil, fmt.Errorf("ledger: encode nil command")
	}
	return encodeJSONCommand(cmd, CommandVersion)
}

// encodeJSONCommand writes cmd's JSON payload under version v.
func encodeJSONCommand(cmd Command, v byte) ([]byte, error) {
	t := cmd.Type()
	if !knownType(t) {
		return nil, fmt.Errorf("ledger: encode unknown command type %d", t)
	}
	return encodeJSON(t, v, cmd)
}

// encodeJSON is the envelope of a configuration command: type, version,
// then the command as JSON.
func encodeJSON(t CommandType, v byte, cmd any) ([]byte, error) {
	p, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("ledger: encode %s: %w", t, err)
	}
	out := make([]byte, 2, 2+len(p))
	out[0], out[1] = byte(t), v
	return append(out, p...), nil
}

// Decode parses an envelope written by Encode. The error wraps ErrInvalid
// for a malformed payload and names the type; an unknown type or version
// is reported as an error too (Apply, unlike Decode, panics on those).
func Decode(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: envelope of %d bytes", ErrInvalid, len(b))
	}
	t, v, p := CommandType(b[0]), b[1], b[2:]
	if !knownType(t) {
		return nil, fmt.Errorf("%w: unknown command type %d", ErrInvalid, b[0])
	}
	if !versionSupported(t, v) {
		return nil, fmt.Errorf("%w: %s version %d not supported", ErrInvalid, t, v)
	}
	cmd, err := commands[t].decode(p, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, t, err)
	}
	return cmd, nil
}

func encodeDestinations(w *wbuf, ds []Destination) {
	w.u(uint64(len(ds)))
	for i := range ds {
		d := &ds[i]
		w.str(d.Kind)
		w.str(d.ID)
		w.str(d.Address)
		w.str(d.Called)
		w.str(d.SellDeckID)
		w.str(d.BuyDeckID)
		w.u(d.PeerTransactionID)
	}
}

func decodeDestinations(r *rbuf) []Destination {
	n := r.count(7)
	if n == 0 {
		return nil
	}
	ds := make([]Destination, n)
	for i := range ds {
		d := &ds[i]
		d.Kind = r.str()
		d.ID = r.str()
		d.Address = r.str()
		d.Called = r.str()
		d.SellDeckID = r.str()
		d.BuyDeckID = r.str()
		d.PeerTransactionID = r.u()
	}
	return ds
}

func encodeAuthorize(c *Authorize) []byte {
	w := wbuf{b: make([]byte, 0, 128)}
	w.byte1(byte(TypeAuthorize))
	admission := !c.ActiveUntil.IsZero()
	if admission {
		w.byte1(AuthorizeVersionAdmission)
	} else {
		w.byte1(AuthorizeVersion)
	}
	w.time(c.At)
	w.str(c.SourceMember)
	w.str(c.MessageID)
	w.str(c.CallID)
	w.str(c.Calling)
	w.str(c.Called)
	encodeDestinations(&w, c.Destinations)
	w.u(uint64(c.TimeLimit))
	w.time(c.UsageDeadline)
	w.str(c.UpstreamPeer)
	w.u(c.UpstreamTransactionID)
	if admission {
		w.time(c.ActiveUntil)
		w.amount(c.Hold)
	}
	return w.b
}

func decodeAuthorize(p []byte, version byte) (Command, error) {
	c, err := decodeAuthorizeValue(p, version)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// decodeAuthorizeValue is decodeAuthorize without boxing the command in
// an interface (Apply's hot path).
func decodeAuthorizeValue(p []byte, version byte) (Authorize, error) {
	r := sharedRbuf(p)
	var c Authorize
	c.legacyV1 = version == 1
	c.At = r.time()
	c.SourceMember = r.str()
	c.MessageID = r.str()
	c.CallID = r.str()
	c.Calling = r.str()
	c.Called = r.str()
	c.Destinations = decodeDestinations(&r)
	tl := r.u()
	if tl > 1<<32-1 {
		r.fail()
	}
	c.TimeLimit = uint32(tl)
	c.UsageDeadline = r.time()
	c.UpstreamPeer = r.str()
	c.UpstreamTransactionID = r.u()
	if version == AuthorizeVersionAdmission {
		c.ActiveUntil = r.time()
		c.Hold = r.amount()
		if c.ActiveUntil.IsZero() {
			r.fail() // version 3 exists only to carry admission
		}
	}
	if err := r.done(); err != nil {
		return Authorize{}, err
	}
	return c, nil
}

// AuthorizeCall is what watchers of the applied log read of an Authorize
// (DecodeAuthorizeCall): who called whom, when, for how long.
type AuthorizeCall struct {
	At           time.Time
	SourceMember string
	Calling      string
	Called       string
	TimeLimit    uint32
	ActiveUntil  time.Time
}

// DecodeAuthorizeCall reads the AuthorizeCall of an encoded Authorize
// (any version) with one allocation: its strings share one copy of b, and
// the destinations are skipped. Errors wrap ErrInvalid.
func DecodeAuthorizeCall(b []byte) (AuthorizeCall, error) {
	if len(b) < 2 || CommandType(b[0]) != TypeAuthorize || !versionSupported(TypeAuthorize, b[1]) {
		return AuthorizeCall{}, fmt.Errorf("%w: not an Authorize this build applies", ErrInvalid)
	}
	r := sharedRbuf(b[2:])
	c := AuthorizeCall{At: r.time(), SourceMember: r.str()}
	r.str() // MessageID
	r.str() // CallID
	c.Calling, c.Called = r.str(), r.str()
	for range r.count(7) {
		for range 6 {
			r.str()
		}
		r.u()
	}
	tl := r.u()
	r.time() // UsageDeadline
	r.str()  // UpstreamPeer
	r.u()    // UpstreamTransactionID
	if b[1] == AuthorizeVersionAdmission {
		c.ActiveUntil = r.time()
	}
	if r.err != nil || tl > 1<<32-1 {
		return AuthorizeCall{}, fmt.Errorf("%w: Authorize: %v", ErrInvalid, errShort)
	}
	c.TimeLimit = uint32(tl)
	return c, nil
}

// UsageCall is what watchers of the applied log read of a RecordUsage
// (DecodeUsageCall).
type UsageCall struct {
	At             time.Time
	TransactionID  uint64
	Role           Role
	Reporter       string
	Called         string
	DurationMillis int64
	Phase          UsagePhase
}

// DecodeUsageCall reads the UsageCall of an encoded RecordUsage (any
// version) with one allocation: its strings share one copy of b, and the
// ratings are skipped, not parsed. Errors wrap ErrInvalid.
func DecodeUsageCall(b []byte) (UsageCall, error) {
	if len(b) < 2 || CommandType(b[0]) != TypeRecordUsage || !versionSupported(TypeRecordUsage, b[1]) {
		return UsageCall{}, fmt.Errorf("%w: not a RecordUsage this build applies", ErrInvalid)
	}
	r := sharedRbuf(b[2:])
	c := UsageCall{At: r.time(), TransactionID: r.u(), Role: Role(r.byte1())}
	r.str() // ComponentID
	c.Reporter = r.str()
	r.str() // ReporterKey
	r.str() // Calling
	c.Called = r.str()
	r.str()  // CallID
	r.time() // Start
	r.time() // Connect
	r.time() // End
	c.DurationMillis = r.i()
	r.u() // TerminationCause
	if r.bool() {
		r.i() // BillableSeconds
		for range 8 {
			r.str() // two amounts (currency, text) and four ids
		}
	}
	if b[1] == RecordUsageVersionLifecycle {
		r.bool() // OverLimit
		c.Phase = UsagePhase(r.byte1())
	}
	if r.err != nil {
		return UsageCall{}, fmt.Errorf("%w: RecordUsage: %v", ErrInvalid, errShort)
	}
	return c, nil
}

func encodeRating(w *wbuf, rt *Rating) {
	if rt == nil {
		w.bool(false)
		return
	}
	w.bool(true)
	w.i(rt.BillableSeconds)
	w.amount(rt.Sell)
	w.str(rt.SellCounterparty)
	w.str(rt.SellDeckID)
	w.amount(rt.Buy)
	w.str(rt.BuyCounterparty)
	w.str(rt.BuyDeckID)
}

func decodeRating(r *rbuf) *Rating {
	if !r.bool() {
		return nil
	}
	rt := &Rating{}
	rt.BillableSeconds = r.i()
	rt.Sell = r.amount()
	rt.SellCounterparty = r.str()
	rt.SellDeckID = r.str()
	rt.Buy = r.amount()
	rt.BuyCounterparty = r.str()
	rt.BuyDeckID = r.str()
	return rt
}

func encodeRecordUsage(c *RecordUsage) []byte {
	w := wbuf{b: make([]byte, 0, 160)}
	w.byte1(byte(TypeRecordUsage))
	perSide := c.Phase != PhaseNone && (c.Rating.perSide() || c.Adjust.perSide())
	withQuality := c.Phase != PhaseNone && c.Quality != nil
	if withQuality {
		w.byte1(RecordUsageVersionQuality)
	} else if perSide {
		w.byte1(RecordUsageVersionPerSide)
	} else if c.Phase != PhaseNone {
		w.byte1(RecordUsageVersionLifecycle)
	} else if c.OverLimit {
		w.byte1(RecordUsageVersionOverLimit)
	} else {
		w.byte1(RecordUsageVersion)
	}
	w.time(c.At)
	w.u(c.TransactionID)
	w.byte1(byte(c.Role))
	w.str(c.ComponentID)
	w.str(c.Reporter)
	w.str(c.ReporterKey)
	w.str(c.Calling)
	w.str(c.Called)
	w.str(c.CallID)
	w.time(c.Start)
	w.time(c.Connect)
	w.time(c.End)
	w.i(c.DurationMillis)
	w.u(uint64(c.TerminationCause))
	encodeRating(&w, c.Rating)
	if c.Phase != PhaseNone {
		w.bool(c.OverLimit)
		w.byte1(byte(c.Phase))
		w.bool(c.Matched)
		w.u(c.OtherFinal)
		encodeRating(&w, c.Adjust)
		if perSide || withQuality {
			encodeBuySeconds(&w, c.Rating)
			encodeBuySeconds(&w, c.Adjust)
		}
		if withQuality {
			encodeQuality(&w, c.Quality)
		}
	} else if c.OverLimit {
		w.bool(true)
	}
	return w.b
}

// encodeBuySeconds writes whether rt carries the buy side's seconds
// separately, and them.
func encodeBuySeconds(w *wbuf, rt *Rating) {
	if !rt.perSide() {
		w.bool(false)
		return
	}
	w.bool(true)
	w.i(*rt.BuyBillableSeconds)
}

// decodeBuySeconds reads what encodeBuySeconds wrote into rt; seconds for
// a rating that is absent are malformed.
func decodeBuySeconds(r *rbuf, rt *Rating) {
	if !r.bool() {
		return
	}
	s := r.i()
	if rt == nil {
		r.fail()
		return
	}
	rt.BuyBillableSeconds = &s
}

func decodeRecordUsage(p []byte, version byte) (Command, error) {
	c, err := decodeRecordUsageValue(p, version)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// decodeRecordUsageValue is decodeRecordUsage without boxing the command
// in an interface (Apply's hot path).
func decodeRecordUsageValue(p []byte, version byte) (RecordUsage, error) {
	r := sharedRbuf(p)
	var c RecordUsage
	c.legacyV1 = version == 1
	c.At = r.time()
	c.TransactionID = r.u()
	c.Role = Role(r.byte1())
	c.ComponentID = r.str()
	c.Reporter = r.str()
	c.ReporterKey = r.str()
	c.Calling = r.str()
	c.Called = r.str()
	c.CallID = r.str()
	c.Start = r.time()
	c.Connect = r.time()
	c.End = r.time()
	c.DurationMillis = r.i()
	tc := r.u()
	if tc > 0xffff {
		r.fail()
	}
	c.TerminationCause = uint16(tc)
	c.Rating = decodeRating(&r)
	switch version {
	case RecordUsageVersionOverLimit:
		c.OverLimit = r.bool()
	case RecordUsageVersionLifecycle, RecordUsageVersionPerSide, RecordUsageVersionQuality:
		c.OverLimit = r.bool()
		c.Phase = UsagePhase(r.byte1())
		c.Matched = r.bool()
		c.OtherFinal = r.u()
		c.Adjust = decodeRating(&r)
		if c.Phase == PhaseNone || c.Phase > PhaseFailed {
			r.fail()
		}
		if version == RecordUsageVersionPerSide || version == RecordUsageVersionQuality {
			decodeBuySeconds(&r, c.Rating)
			decodeBuySeconds(&r, c.Adjust)
		}
		if version == RecordUsageVersionQuality {
			c.Quality = decodeQuality(&r)
		}
	}
	if err := r.done(); err != nil {
		return RecordUsage{}, err
	}
	return c, nil
}

// Stored record encodings (binary, versioned by a leading byte).

const recordVersion = 1

// usageRecordOverLimit is the version of a stored Usage whose OverLimit is
// set: version 1 plus a trailing flag. A usage without it keeps version 1,
// so existing state and digests are unchanged.
const usageRecordOverLimit = 2

// usageRecordLifecycle is the version of a stored Usage with a Phase:
// version 2's fields with OverLimit always present, then the phase, the
// conflict flag and the mismatch reason.
const usageRecordLifecycle = 3

// usageRecordPerSide is version 3 plus the rating's buy-side seconds, for
// a usage whose rating carries them (Rating.BuyBillableSeconds); every
// other usage keeps its version.
const usageRecordPerSide = 4

func encodeTransaction(w *wbuf, t *Transaction) {
	w.byte1(recordVersion)
	w.u(t.ID)
	w.str(t.SourceMember)
	w.str(t.MessageID)
	w.str(t.CallID)
	w.str(t.Calling)
	w.str(t.Called)
	w.time(t.CreatedAt)
	encodeDestinations(w, t.Destinations)
	w.u(uint64(t.TimeLimit))
	w.time(t.UsageDeadline)
	w.str(t.UpstreamPeer)
	w.u(t.UpstreamTransactionID)
}

func decodeTransaction(r *rbuf) *Transaction {
	if r.byte1() != recordVersion {
		r.fail()
		return nil
	}
	t := &Transaction{}
	t.ID = r.u()
	t.SourceMember = r.str()
	t.MessageID = r.str()
	t.CallID = r.str()
	t.Calling = r.str()
	t.Called = r.str()
	t.CreatedAt = r.time()
	t.Destinations = decodeDestinations(r)
	t.TimeLimit = uint32(r.u())
	t.UsageDeadline = r.time()
	t.UpstreamPeer = r.str()
	t.UpstreamTransactionID = r.u()
	return t
}

// decodeTransactionForUsage reads a Transaction record as decodeTransaction
// does (same checks, same error on a malformed record) but keeps only what
// RecordUsage needs: ID, SourceMember, TimeLimit, UsageDeadline and the
// upstream fields. Skipping the other strings, destinations included, saves
// about a third of a usage's allocations.
func decodeTransactionForUsage(r *rbuf) *Transaction {
	if r.byte1() != recordVersion {
		r.fail()
		return nil
	}
	t := &Transaction{}
	t.ID = r.u()
	t.SourceMember = r.str()
	r.raw()  // MessageID
	r.raw()  // CallID
	r.raw()  // Calling
	r.raw()  // Called
	r.time() // CreatedAt
	for range r.count(7) {
		for range 6 { // Kind, ID, Address, Called, SellDeckID, BuyDeckID
			r.raw()
		}
		r.u() // PeerTransactionID
	}
	t.TimeLimit = uint32(r.u())
	t.UsageDeadline = r.time()
	t.UpstreamPeer = r.str()
	t.UpstreamTransactionID = r.u()
	return t
}

func encodeUsage(w *wbuf, u *Usage) {
	perSide := u.Phase != PhaseNone && u.Rating.perSide()
	withQuality := u.Phase != PhaseNone && u.Quality != nil
	if withQuality {
		w.byte1(usageRecordQuality)
	} else if perSide {
		w.byte1(usageRecordPerSide)
	} else if u.Phase != PhaseNone {
		w.byte1(usageRecordLifecycle)
	} else if u.OverLimit {
		w.byte1(usageRecordOverLimit)
	} else {
		w.byte1(recordVersion)
	}
	w.u(u.ID)
	w.u(u.TransactionID)
	w.byte1(byte(u.Role))
	w.str(u.ComponentID)
	w.str(u.Reporter)
	w.str(u.ReporterKey)
	w.str(u.SourceMember)
	w.str(u.Calling)
	w.str(u.Called)
	w.str(u.CallID)
	w.time(u.Start)
	w.time(u.Connect)
	w.time(u.End)
	w.i(u.DurationMillis)
	w.u(uint64(u.TerminationCause))
	encodeRating(w, u.Rating)
	w.time(u.RecordedAt)
	w.bool(u.Unmatched)
	w.bool(u.LateAdjustment)
	w.u(u.PostingID)
	w.u(u.OutboxID)
	if u.Phase != PhaseNone {
		w.bool(u.OverLimit)
		w.byte1(byte(u.Phase))
		w.bool(u.Conflict)
		w.str(u.Mismatch)
		w.u(u.AdjustedBy)
		if perSide || withQuality {
			encodeBuySeconds(w, u.Rating)
		}
		if withQuality {
			encodeQuality(w, u.Quality)
		}
	} else if u.OverLimit {
		w.bool(true)
	}
}

func decodeUsage(r *rbuf) *Usage {
	v := r.byte1()
	if v != recordVersion && v != usageRecordOverLimit && v != usageRecordLifecycle && v != usageRecordPerSide && v != usageRecordQuality {
		r.fail()
		return nil
	}
	u := &Usage{}
	u.ID = r.u()
	u.TransactionID = r.u()
	u.Role = Role(r.byte1())
	u.ComponentID = r.str()
	u.Reporter = r.str()
	u.ReporterKey = r.str()
	u.SourceMember = r.str()
	u.Calling = r.str()
	u.Called = r.str()
	u.CallID = r.str()
	u.Start = r.time()
	u.Connect = r.time()
	u.End = r.time()
	u.DurationMillis = r.i()
	u.TerminationCause = uint16(r.u())
	u.Rating = decodeRating(r)
	u.RecordedAt = r.time()
	u.Unmatched = r.bool()
	u.LateAdjustment = r.bool()
	u.PostingID = r.u()
	u.OutboxID = r.u()
	switch v {
	case usageRecordOverLimit:
		u.OverLimit = r.bool()
	case usageRecordLifecycle, usageRecordPerSide, usageRecordQuality:
		u.OverLimit = r.bool()
		u.Phase = UsagePhase(r.byte1())
		u.Conflict = r.bool()
		u.Mismatch = r.str()
		u.AdjustedBy = r.u()
		if v == usageRecordPerSide || v == usageRecordQuality {
			decodeBuySeconds(r, u.Rating)
		}
		if v == usageRecordQuality {
			u.Quality = decodeQuality(r)
		}
	}
	return u
}

// encodePostingBody is the canonical encoding hashed into the chain: every
// field except Hash, PrevHash included.
func encodePostingBody(w *wbuf, p *Posting) {
	w.byte1(recordVersion)
	w.u(p.ID)
	w.time(p.At)
	w.time(p.EffectiveAt)
	w.u(p.UsageID)
	w.u(p.TransactionID)
	w.bool(p.LateAdjustment)
	w.str(p.Memo)
	w.u(uint64(len(p.Lines)))
	for _, l := range p.Lines {
		w.str(l.Account)
		w.amount(l.Amount)
	}
	w.b = append(w.b, p.PrevHash[:]...)
}

func decodePostingBody(r *rbuf) *Posting {
	if r.byte1() != recordVersion {
		r.fail()
		return nil
	}
	p := &Posting{}
	p.ID = r.u()
	p.At = r.time()
	p.EffectiveAt = r.time()
	p.UsageID = r.u()
	p.TransactionID = r.u()
	p.LateAdjustment = r.bool()
	p.Memo = r.str()
	n := r.count(3)
	p.Lines = make([]PostingLine, n)
	for i := range p.Lines {
		p.Lines[i].Account = r.str()
		p.Lines[i].Amount = r.amount()
	}
	if r.err == nil && len(r.b) >= 32 {
		copy(p.PrevHash[:], r.b[:32])
		r.b = r.b[32:]
	} else {
		r.fail()
	}
	return p
}

func encodeOutbox(w *wbuf, o *OutboxItem) {
	w.byte1(recordVersion)
	w.u(o.ID)
	w.str(o.Peer)
	w.u(o.UpstreamTransactionID)
	w.time(o.CreatedAt)
	encodeUsage(w, &o.Usage)
}

func decodeOutbox(r *rbuf) *OutboxItem {
	if r.byte1() != recordVersion {
		r.fail()
		return nil
	}
	o := &OutboxItem{}
	o.ID = r.u()
	o.Peer = r.str()
	o.UpstreamTransactionID = r.u()
	o.CreatedAt = r.time()
	if u := decodeUsage(r); u != nil {
		o.Usage = *u
	}
	return o
}
