package ledger

import (
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// Network is the identity of the peering network this ledger belongs to.
// Currency is its settlement (home) currency. TxIDEpoch (0..127; 0..7 with
// a TxIDNetwork) is folded into every TransactionID so that a network
// rebuilt from an empty log never reissues an id its peers remember (see
// DESIGN.md).
type Network struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Currency  string `json:"currency"`
	TxIDEpoch uint8  `json:"txid_epoch,omitempty"`
	// TxIDNetwork (1..255) is this network's number in the high bits of
	// every TransactionID, so that two peering networks never issue the
	// same id (every network numbers from its own log). 0: no number, the
	// layout of ledgers from before it. Set while the ledger has issued no
	// transaction (network init derives it from the id), never changed.
	TxIDNetwork uint8 `json:"txid_network,omitempty"`
	// BillingBasis decides which duration a call is settled on when its
	// source and destination report different ones (lifecycle.go): "own"
	// (or empty) rates each side on its own report; "source",
	// "destination" and "shorter" rate both sides on that report's
	// duration once both finals are in (the first side is adjusted when
	// the second arrives).
	BillingBasis BillingBasis `json:"billing_basis,omitempty"`
	// Fraud configures fraud control (settlement/fraud); nil: the shipped
	// defaults. Every node detects with the same settings.
	Fraud *FraudSettings `json:"fraud,omitempty"`
	// BillingIdentity is the network's as the issuer of statements
	// (address, tax id, billing email) and its default payment terms.
	BillingIdentity
}

// FraudSettings is a network's fraud control configuration: what differs
// from the shipped defaults (settlement/fraud.DefaultConfig); a zero field
// keeps the default.
type FraudSettings struct {
	Disabled bool `json:"disabled,omitempty"`
	// HighRiskRanges, when not empty, replaces the shipped high-risk list.
	HighRiskRanges    []FraudRange `json:"high_risk_ranges,omitempty"`
	DestinationDigits int          `json:"destination_digits,omitempty"`
	// LearnSeconds is the learning period (nil: the default; 0: none).
	LearnSeconds *int                `json:"learn_seconds,omitempty"`
	MaxKeys      int                 `json:"max_keys,omitempty"`
	MaxCalls     int                 `json:"max_calls,omitempty"`
	Rules        []FraudRuleSettings `json:"rules,omitempty"`
}

// FraudRange is one high-risk destination range and where it comes from.
type FraudRange struct {
	Prefix string `json:"prefix"`
	Name   string `json:"name,omitempty"`
	Source string `json:"source,omitempty"`
}

// FraudRuleSettings overrides one rule's defaults (zero fields keep them).
// Every field is an integer in the unit its name states (permille: 3000
// is 3×, 700 is 70%), so that replicas decode and apply them bit for bit
// alike on any CPU: no floating point in the ledger.
type FraudRuleSettings struct {
	Rule            string `json:"rule"`
	Action          string `json:"action,omitempty"`
	WindowSeconds   int    `json:"window_seconds,omitempty"`
	BaselineWindows int    `json:"baseline_windows,omitempty"`
	MinCalls        int    `json:"min_calls,omitempty"`
	FactorPermille  int64  `json:"factor_permille,omitempty"`
	ShortSeconds    int    `json:"short_seconds,omitempty"`
	RatioPermille   int64  `json:"ratio_permille,omitempty"`
	MinSeconds      int64  `json:"min_seconds,omitempty"` // new_destination's least call time in the window
	NewForSeconds   int    `json:"new_for_seconds,omitempty"`
	MaxConcurrent   int    `json:"max_concurrent,omitempty"`
}

// BillingBasis is a network's rule for the settled duration of a call.
type BillingBasis string

// Billing bases.
const (
	BasisOwn         BillingBasis = "own"
	BasisSource      BillingBasis = "source"
	BasisDestination BillingBasis = "destination"
	BasisShorter     BillingBasis = "shorter"
)

// Valid reports whether b is a known basis (empty is BasisOwn).
func (b BillingBasis) Valid() bool {
	switch b {
	case "", BasisOwn, BasisSource, BasisDestination, BasisShorter:
		return true
	}
	return false
}

// Shared reports whether b settles both sides on one duration, so a
// side's final record depends on the other's.
func (b BillingBasis) Shared() bool { return b != "" && b != BasisOwn }

// Duration returns the duration a call is settled on under b, from the
// source's and the destination's reported durations; have says which of
// them are known. Until the one b needs is known, each side's own.
func (b BillingBasis) Duration(own Role, srcMs, dstMs int64, haveSrc, haveDst bool) int64 {
	mine := srcMs
	if own == RoleDestination {
		mine = dstMs
	}
	switch b {
	case BasisSource:
		if haveSrc {
			return srcMs
		}
	case BasisDestination:
		if haveDst {
			return dstMs
		}
	case BasisShorter:
		if haveSrc && haveDst {
			return min(srcMs, dstMs)
		}
	}
	return mine
}

// MemberStatus is the administrative state of a member.
type MemberStatus string

// Member statuses.
const (
	MemberActive    MemberStatus = "active"
	MemberSuspended MemberStatus = "suspended"
)

// Credentials are the ways a member's SIP proxy is recognised. Any matching
// item identifies the member; an empty list is not a wildcard.
type Credentials struct {
	// SourceAddrs are IP addresses or CIDR prefixes ("192.0.2.7", "198.51.100.0/24").
	SourceAddrs []string `json:"source_addrs,omitempty"`
	// DeviceIDs and CustomerIDs are the OSP DeviceId / CustomerId values.
	// They break a tie between members whose addresses both match a
	// request; they identify the member on their own (from any address)
	// only with IdentifyByIDs.
	DeviceIDs   []string `json:"device_ids,omitempty"`
	CustomerIDs []string `json:"customer_ids,omitempty"`
	// IdentifyByIDs lets a request's DeviceId or CustomerId alone identify
	// this member when no address or certificate does. They are
	// self-declared in the XML, so anyone who can reach the OSP listener
	// can claim them: an explicit opt-in (the stock toolkit's test client
	// sends 1000/1000), which the node warns about at start.
	IdentifyByIDs bool `json:"identify_by_ids,omitempty"`
	// CertSubjects are client-certificate subject DNs; CertFingerprints are
	// lower-case hex SHA-256 fingerprints of client certificates.
	CertSubjects     []string `json:"cert_subjects,omitempty"`
	CertFingerprints []string `json:"cert_fingerprints,omitempty"`
}

// Token kinds a member's proxy accepts.
const (
	TokenSigned = "signed"
	TokenText   = "text"
	TokenXML    = "xml"
)

// Member is a carrier of this network. Its account in the postings is
// MemberAccount(ID).
type Member struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Status      MemberStatus `json:"status"`
	Credentials Credentials  `json:"credentials"`
	// CreditLimit bounds what the member may owe (zero: no credit check).
	CreditLimit     money.Amount `json:"credit_limit"`
	CPSLimit        int          `json:"cps_limit,omitempty"`        // calls per second, 0 = unlimited
	ConcurrentLimit int          `json:"concurrent_limit,omitempty"` // concurrent calls, 0 = unlimited
	TokenKind       string       `json:"token_kind,omitempty"`       // TokenSigned, TokenText or TokenXML
	// SellDeckID rates calls the member originates (we charge it);
	// BuyDeckID rates calls it terminates (it charges us).
	SellDeckID      string   `json:"sell_deck_id,omitempty"`
	BuyDeckID       string   `json:"buy_deck_id,omitempty"`
	BlockedPrefixes []string `json:"blocked_prefixes,omitempty"`
	// SharedToken: this member's proxies accept a token that is not bound
	// to one destination. Node then issues one token per call for all the
	// offered destinations of such members that take the same token kind
	// and called number, without the `d` (destination address) key,
	// instead of one per destination: one ECDSA signature per call rather
	// than per destination. The OSP toolkit does not check `d`; the
	// trade-off is that such a token also works at the call's other
	// shared-token destinations. Default false: one token per destination.
	SharedToken bool `json:"shared_token,omitempty"`
	// SignalAddressPort: offer destinations to this member's proxies as
	// configured, "[ip]:port". Without it (the default, what OSP Toolkit
	// clients in the wild take) a destination on SIP's default port 5060
	// is offered as "[ip]": the Kamailio/OpenSIPS osp module strips the
	// first and last character of DestinationSignalAddress, so
	// "[192.0.2.7]:5060" reached it as "192.0.2.7]:506" and the call
	// failed. A trunk on another port is always offered with its port.
	SignalAddressPort bool `json:"signal_address_port,omitempty"`
	// BillingIdentity is the member's as a statement's counterparty; its
	// payment terms, when set, override the network's.
	BillingIdentity
}

// Trunk is one termination endpoint of a member.
type Trunk struct {
	ID       string `json:"id"`
	MemberID string `json:"member_id"`
	// Address is the SIP signalling address, e.g. "[192.0.2.7]:5060".
	Address  string `json:"address"`
	Protocol string `json:"protocol,omitempty"` // "udp", "tcp", "tls"
	Weight   int    `json:"weight,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Capacity int    `json:"capacity,omitempty"` // concurrent calls, 0 = unlimited
}

// ServicePoint is one OSP server URL of a peer network.
type ServicePoint struct {
	URL    string `json:"url"`
	Weight int    `json:"weight,omitempty"`
}

// PeerStatus is the administrative state of a peer.
type PeerStatus string

// Peer statuses.
const (
	PeerActive   PeerStatus = "active"
	PeerDisabled PeerStatus = "disabled"
)

// Peer is another peering network we forward calls to (and settle with).
// Its account in the postings is PeerAccount(ID).
type Peer struct {
	ID            string         `json:"id"`
	Name          string         `json:"name,omitempty"`
	Status        PeerStatus     `json:"status"`
	ServicePoints []ServicePoint `json:"service_points"`
	// TrustedCAs are PEM certificates that sign the peer's tokens and TLS.
	TrustedCAs []string `json:"trusted_cas,omitempty"`
	// ClientCertRef / ClientKeyRef name our client certificate and key for
	// this peer (a file path or key-store reference; never the key itself).
	ClientCertRef string `json:"client_cert_ref,omitempty"`
	ClientKeyRef  string `json:"client_key_ref,omitempty"`
	// OurMemberID is our identity as a member of the peer network
	// (its DeviceId/CustomerId for us).
	OurMemberID     string `json:"our_member_id,omitempty"`
	CPSLimit        int    `json:"cps_limit,omitempty"`
	ConcurrentLimit int    `json:"concurrent_limit,omitempty"`
	// BuyDeckID rates calls we send to the peer (it charges us).
	BuyDeckID string `json:"buy_deck_id,omitempty"`
	// BillingIdentity is the peer network's as a statement's
	// counterparty; its payment terms, when set, override ours.
	BillingIdentity
}

// Candidate kinds of a route.
const (
	CandidateTrunk = "trunk"
	CandidatePeer  = "peer"
)

// RouteCandidate is one place a route can send a call, with the number
// translation applied before sending: strip Strip leading digits, then
// prepend AddPrefix.
type RouteCandidate struct {
	Kind      string `json:"kind"` // CandidateTrunk or CandidatePeer
	ID        string `json:"id"`
	Priority  int    `json:"priority,omitempty"` // lower is preferred
	Weight    int    `json:"weight,omitempty"`
	Strip     int    `json:"strip,omitempty"`
	AddPrefix string `json:"add_prefix,omitempty"`
}

// Route maps a destination prefix (E.164 digits) to candidates. A Blocked
// route refuses calls to the prefix.
type Route struct {
	Prefix     string           `json:"prefix"`
	Candidates []RouteCandidate `json:"candidates,omitempty"`
	Blocked    bool             `json:"blocked,omitempty"`
	// Quality, when set, demotes or excludes candidates of poor quality
	// (quality.go).
	Quality *RouteQuality `json:"quality,omitempty"`
}

// Deck directions.
const (
	DirectionSell = "sell"
	DirectionBuy  = "buy"
)

// DeckRow is one destination of a rate deck. Rate is per minute; both
// amounts are in the deck's currency.
type DeckRow struct {
	Prefix         string       `json:"prefix"`
	Description    string       `json:"description,omitempty"`
	Rate           money.Amount `json:"rate"`
	ConnectFee     money.Amount `json:"connect_fee"`
	FirstIncrement int          `json:"first_increment"`
	NextIncrement  int          `json:"next_increment"`
}

// DeckVersion is one version of a rate deck, in force from EffectiveFrom
// until EffectiveUntil (zero: open-ended). A version is identified by
// (DeckID, EffectiveFrom); putting the same pair again replaces it.
type DeckVersion struct {
	DeckID       string `json:"deck_id"`
	Counterparty string `json:"counterparty"` // an account name: MemberAccount / PeerAccount
	Direction    string `json:"direction"`    // DirectionSell or DirectionBuy
	Currency     string `json:"currency"`
	Decimals     int32  `json:"decimals"`
	RoundingMode string `json:"rounding_mode"` // money.HalfUp, HalfEven, Up, Down
	// DurationRounding rounds milliseconds to seconds: "up" (default), "half-up", "down".
	DurationRounding string    `json:"duration_rounding,omitempty"`
	EffectiveFrom    time.Time `json:"effective_from"`
	EffectiveUntil   time.Time `json:"effective_until,omitzero"`
	Rows             []DeckRow `json:"rows,omitempty"`
}

// Destination kinds of a transaction.
const (
	DestTrunk = CandidateTrunk
	DestPeer  = CandidatePeer
)

// Destination is one route offered in an AuthorizationResponse, with the
// rate references the proposer chose.
type Destination struct {
	Kind    string `json:"kind"` // DestTrunk or DestPeer
	ID      string `json:"id"`   // trunk or peer id
	Address string `json:"address"`
	Called  string `json:"called,omitempty"` // number after translation
	// SellDeckID / BuyDeckID identify the decks that will rate the call.
	SellDeckID string `json:"sell_deck_id,omitempty"`
	BuyDeckID  string `json:"buy_deck_id,omitempty"`
	// PeerTransactionID is the TransactionId the peer assigned when this
	// destination came from a forwarded authorisation.
	PeerTransactionID uint64 `json:"peer_transaction_id,omitempty"`
}

// Transaction is one authorisation. ID is assigned by Apply (see
// DESIGN.md); the idempotency key is (SourceMember, MessageID, CallID).
type Transaction struct {
	ID           uint64        `json:"id"`
	SourceMember string        `json:"source_member"`
	MessageID    string        `json:"message_id,omitempty"`
	CallID       string        `json:"call_id,omitempty"`
	Calling      string        `json:"calling"`
	Called       string        `json:"called"`
	CreatedAt    time.Time     `json:"created_at"`
	Destinations []Destination `json:"destinations,omitempty"`
	TimeLimit    uint32        `json:"time_limit,omitempty"` // seconds, 0 = none
	// UsageDeadline: usage recorded after it is UNMATCHED (zero: never).
	UsageDeadline time.Time `json:"usage_deadline,omitzero"`
	// UpstreamPeer / UpstreamTransactionID are set when the call was
	// forwarded to a peer network; usage is cascaded there via the outbox.
	UpstreamPeer          string `json:"upstream_peer,omitempty"`
	UpstreamTransactionID uint64 `json:"upstream_transaction_id,omitempty"`
}

// Role is the side of a call a usage report comes from.
type Role uint8

// Roles.
const (
	RoleSource      Role = 1
	RoleDestination Role = 2
)

// String returns "source" or "destination".
func (r Role) String() string {
	switch r {
	case RoleSource:
		return "source"
	case RoleDestination:
		return "destination"
	}
	return "unknown"
}

// Rating is the rated result of a usage record, computed by the proposer
// (settlement) and stamped into the command. The originating counterparty
// owes us Sell; we owe the terminating counterparty Buy. A zero amount (or
// empty counterparty) posts nothing on that side.
//
// Each side is rated on its own deck, and two decks round the same call to
// different billable seconds (60/60 against 1/1): BillableSeconds is the
// sell side's (the only side's, for a one-sided rating), and
// BuyBillableSeconds the buy side's when it differs. Read them with
// SellSeconds and BuySeconds.
type Rating struct {
	BillableSeconds int64 `json:"billable_seconds"`
	// BuyBillableSeconds: the buy side's billable seconds when they differ
	// from BillableSeconds (set with SetBuySeconds); nil: the same. Only
	// RecordUsage versions 5 and 6 and usage records of versions 4 and 5
	// carry it, so a rating without it encodes as before.
	BuyBillableSeconds *int64       `json:"buy_billable_seconds,omitempty"`
	Sell               money.Amount `json:"sell"`
	SellCounterparty   string       `json:"sell_counterparty,omitempty"` // account name
	SellDeckID         string       `json:"sell_deck_id,omitempty"`
	Buy                money.Amount `json:"buy"`
	BuyCounterparty    string       `json:"buy_counterparty,omitempty"` // account name
	BuyDeckID          string       `json:"buy_deck_id,omitempty"`
}

// SellSeconds returns the billable seconds of the sell side.
func (r *Rating) SellSeconds() int64 { return r.BillableSeconds }

// BuySeconds returns the billable seconds of the buy side: what the buy
// deck billed, which is what the terminating counterparty invoices.
func (r *Rating) BuySeconds() int64 {
	if r.BuyBillableSeconds != nil {
		return *r.BuyBillableSeconds
	}
	return r.BillableSeconds
}

// SetBuySeconds records the buy side's billable seconds; equal to
// BillableSeconds they are not stored separately (the rating then encodes
// as a rating of before per-side seconds, byte for byte).
func (r *Rating) SetBuySeconds(s int64) {
	if s == r.BillableSeconds {
		r.BuyBillableSeconds = nil
		return
	}
	r.BuyBillableSeconds = &s
}

// perSide reports whether r carries the buy side's seconds separately.
func (r *Rating) perSide() bool { return r != nil && r.BuyBillableSeconds != nil }

// Usage is one recorded usage report (a CDR).
type Usage struct {
	ID            uint64 `json:"id"`
	TransactionID uint64 `json:"transaction_id,omitempty"`
	Role          Role   `json:"role"`
	ComponentID   string `json:"component_id,omitempty"`
	// Reporter is the account name of who reported it (member or peer);
	// ReporterKey is its idempotency key when TransactionID is unknown.
	Reporter         string    `json:"reporter"`
	ReporterKey      string    `json:"reporter_key,omitempty"`
	SourceMember     string    `json:"source_member,omitempty"` // from the transaction when matched
	Calling          string    `json:"calling"`
	Called           string    `json:"called"`
	CallID           string    `json:"call_id,omitempty"`
	Start            time.Time `json:"start,omitzero"`
	Connect          time.Time `json:"connect,omitzero"`
	End              time.Time `json:"end,omitzero"`
	DurationMillis   int64     `json:"duration_ms"`
	TerminationCause uint16    `json:"termination_cause,omitempty"`
	Rating           *Rating   `json:"rating,omitempty"`
	RecordedAt       time.Time `json:"recorded_at"`
	// Unmatched: the transaction was unknown or past its UsageDeadline.
	Unmatched bool `json:"unmatched,omitempty"`
	// LateAdjustment: the connect time fell in a closed period, so the
	// postings were dated into the open period.
	LateAdjustment bool   `json:"late_adjustment,omitempty"`
	PostingID      uint64 `json:"posting_id,omitempty"` // 0: nothing posted
	OutboxID       uint64 `json:"outbox_id,omitempty"`  // 0: nothing cascaded
	// OverLimit: the reported duration exceeded the transaction's time
	// limit; DurationMillis is as reported, the rating used the capped
	// time. For review.
	OverLimit bool `json:"over_limit,omitempty"`
	// Phase: setup, interim, final or failed (lifecycle.go); empty for
	// usage recorded before the lifecycle.
	Phase UsagePhase `json:"phase,omitzero"`
	// Conflict: a final record that disagrees with the call's paid final
	// (another duration, another answer). Kept for review, never paid.
	Conflict bool `json:"conflict,omitempty"`
	// Mismatch says why a usage naming a known transaction was not
	// matched to it (another Call-ID or number, or a reporter that is not
	// a party of its side). Such usage is Unmatched and never rated.
	Mismatch string `json:"mismatch,omitempty"`
	// AdjustedBy: the network settles on a shared billing basis and the
	// other side's final (this usage id) changed the duration this record
	// is settled on; Rating is the adjusted one, and an adjustment posting
	// moved the difference.
	AdjustedBy uint64 `json:"adjusted_by,omitempty"`
	// Quality is what the report said about the attempt's quality
	// (quality.go); nil for usage recorded before it existed.
	Quality *UsageQuality `json:"quality,omitempty"`
}

// Settled reports whether u is the record its call is settled on: a paid
// final (or, from before the lifecycle, any record), matched to its
// transaction and not a conflict. Setup, interim and failed-attempt records
// describe the call; only this one says how long it lasted.
func (u *Usage) Settled() bool {
	if u.Unmatched || u.Conflict {
		return false
	}
	return u.Phase == PhaseNone || u.Phase == PhaseFinal
}

// CallRecord reports whether u stands for a call attempt in CDR exports
// and statements: a final or failed-attempt record (or one from before the
// lifecycle), matched or not, that is not a conflict. A setup or interim
// record is superseded by its call's final; a conflict is kept for review.
func (u *Usage) CallRecord() bool {
	return !u.Conflict && u.Phase != PhaseSetup && u.Phase != PhaseInterim
}

// Well-known account names. Member and peer accounts are built with
// MemberAccount and PeerAccount.
const (
	AccountRevenue = "revenue"
	AccountCost    = "cost"
)

// MemberAccount returns "member:ID".
func MemberAccount(id string) string { return "member:" + id }

// PeerAccount returns "peer:ID".
func PeerAccount(id string) string { return "peer:" + id }

// PostingLine is one leg of a posting. Amount > 0 debits the account,
// Amount < 0 credits it: a member's positive balance is what it owes us, a
// negative balance what we owe it.
type PostingLine struct {
	Account string       `json:"account"`
	Amount  money.Amount `json:"amount"`
}

// Posting is one immutable journal entry; its lines balance per currency.
// Hash = SHA-256(PrevHash ‖ canonical encoding) chains every posting to
// the one before it.
type Posting struct {
	ID uint64    `json:"id"`
	At time.Time `json:"at"` // apply-time stamp of the command that posted it
	// EffectiveAt dates the posting into a period: the connect time of the
	// usage, or, for a late adjustment, the start of the open period.
	EffectiveAt    time.Time     `json:"effective_at"`
	UsageID        uint64        `json:"usage_id,omitempty"`
	TransactionID  uint64        `json:"transaction_id,omitempty"`
	LateAdjustment bool          `json:"late_adjustment,omitempty"`
	Memo           string        `json:"memo,omitempty"`
	Lines          []PostingLine `json:"lines"`
	PrevHash       [32]byte      `json:"prev_hash"`
	Hash           [32]byte      `json:"hash"`
}

// Balance is an account's balance in one currency.
type Balance struct {
	Account string       `json:"account"`
	Amount  money.Amount `json:"amount"`
}

// Period is a settlement period [Start, End). The open period has Closed
// false, the ID "" and a zero End.
type Period struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
	Closed   bool      `json:"closed"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// OutboxItem is a usage record waiting to be cascaded to a peer network.
type OutboxItem struct {
	ID                    uint64    `json:"id"`
	Peer                  string    `json:"peer"`
	UpstreamTransactionID uint64    `json:"upstream_transaction_id"`
	CreatedAt             time.Time `json:"created_at"`
	Usage                 Usage     `json:"usage"`
}

// RevokedCert is a revoked client-certificate serial.
type RevokedCert struct {
	Serial string    `json:"serial"` // lower-case hex, no separators
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}
