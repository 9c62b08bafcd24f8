package ledger

import (
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// CommandType is byte 0 of an encoded command. Values are never renumbered
// or reused. A type with the Ignorable bit set that this version does not
// know is skipped by Apply; any other unknown type panics.
type CommandType uint8

// Ignorable marks a command type that older versions may skip safely.
const Ignorable CommandType = 0x80

// Command types. Append only.
const (
	TypeSetNetwork      CommandType = 1
	TypePutMember       CommandType = 2
	TypeSetMemberStatus CommandType = 3
	TypePutTrunk        CommandType = 4
	TypeRemoveTrunk     CommandType = 5
	TypePutPeer         CommandType = 6
	TypeRemovePeer      CommandType = 7
	TypePutRoutes       CommandType = 8
	TypeRemoveRoute     CommandType = 9
	TypePutDeckVersion  CommandType = 10
	TypeAuthorize       CommandType = 11
	TypeRecordUsage     CommandType = 12
	TypeClosePeriod     CommandType = 13
	TypeAckOutbox       CommandType = 14
	TypeRevokeCert      CommandType = 15
	TypePostEntry       CommandType = 16
	TypeFraudBlock      CommandType = 17
	TypeFraudRelease    CommandType = 18
)

// String names the type ("Authorize"), or "type(N)".
func (t CommandType) String() string {
	if spec := commands[t]; spec != nil {
		return spec.name
	}
	return "type(" + itoa(uint64(t)) + ")"
}

// Command is a state change. Encode turns it into log bytes; only the types
// of this package implement it.
type Command interface {
	// Type is the command's envelope type.
	Type() CommandType
}

// SetNetwork sets the network identity (replacing it).
type SetNetwork struct {
	Network Network `json:"network"`
}

// CreateNetwork sets the network identity only when the ledger has none:
// the arbiter of `network init`. It is SetNetwork's envelope type at
// version SetNetworkVersionCreate, so that the check and the write happen
// in one apply, identically on every node, and two operators racing to
// initialise different networks cannot both win. With a network already
// present nothing is written: the same network (billing basis "" and
// "own" alike) gives Duplicate, another one Rejected naming the present
// network.
type CreateNetwork struct {
	Network Network `json:"network"`
}

// PutMember creates or replaces a member.
type PutMember struct {
	Member Member `json:"member"`
}

// SetMemberStatus changes a member's status; NotFound if it does not exist.
type SetMemberStatus struct {
	ID     string       `json:"id"`
	Status MemberStatus `json:"status"`
}

// PutTrunk creates or replaces a trunk; Rejected if its member does not exist.
type PutTrunk struct {
	Trunk Trunk `json:"trunk"`
}

// RemoveTrunk deletes a trunk; NotFound if it does not exist.
type RemoveTrunk struct {
	ID string `json:"id"`
}

// PutPeer creates or replaces a peer.
type PutPeer struct {
	Peer Peer `json:"peer"`
}

// RemovePeer deletes a peer; NotFound if it does not exist. Its pending
// outbox items stay until acknowledged.
type RemovePeer struct {
	ID string `json:"id"`
}

// PutRoutes upserts routes. With ReplaceAll every existing route is deleted
// first: a large table is imported as one ReplaceAll chunk followed by
// plain chunks (a few thousand routes per command keeps log entries small).
type PutRoutes struct {
	Routes     []Route `json:"routes"`
	ReplaceAll bool    `json:"replace_all,omitempty"`
}

// RemoveRoute deletes the route of one prefix; NotFound if absent.
type RemoveRoute struct {
	Prefix string `json:"prefix"`
}

// PutDeckVersion creates or replaces the version (DeckID, EffectiveFrom).
// With AppendRows the rows are added to an existing version instead (for
// decks too large for one command); the header fields must then match.
type PutDeckVersion struct {
	Version    DeckVersion `json:"version"`
	AppendRows bool        `json:"append_rows,omitempty"`
}

// Authorize records an authorisation and assigns its TransactionID. A
// repeat of (SourceMember, MessageID, CallID) returns the first
// transaction with code Duplicate. At is the proposer's clock.
type Authorize struct {
	At            time.Time
	SourceMember  string
	MessageID     string
	CallID        string
	Calling       string
	Called        string
	Destinations  []Destination
	TimeLimit     uint32
	UsageDeadline time.Time
	// UpstreamPeer / UpstreamTransactionID: the call was forwarded.
	UpstreamPeer          string
	UpstreamTransactionID uint64

	// ActiveUntil, when set, asks for cluster-wide admission (admission.go):
	// the source member's calls-per-second, concurrent-call and credit
	// limits are checked against every node's authorisations, and the
	// call counts as in progress, holding Hold of credit, until its source
	// usage is recorded or ActiveUntil passes. A refusal is one of the
	// Refused* result codes. Zero: no admission (version 2 behaviour).
	ActiveUntil time.Time
	// Hold is the credit the call holds: what its whole time limit costs
	// at the member's sell rate (zero: none). Only a hold in the currency
	// of the member's credit limit counts.
	Hold money.Amount

	// legacyV1 is set when the command was decoded from a version 1
	// envelope: it is applied with the version 1 rules (no field bounds,
	// raw idempotency key), so that replaying an old log reproduces its
	// state. Encode always writes the current version.
	legacyV1 bool
}

// RecordUsage records one usage report, posts its Rating (if any, once per
// transaction, role and component) and, for a forwarded call reported by
// the source side, enqueues the cascade to the upstream peer. Idempotency key:
// (TransactionID, Role, ComponentID) when TransactionID != 0, else
// (Reporter, ReporterKey); a repeat returns the first result with code
// Duplicate.
type RecordUsage struct {
	At               time.Time
	TransactionID    uint64
	Role             Role
	ComponentID      string
	Reporter         string
	ReporterKey      string
	Calling          string
	Called           string
	CallID           string
	Start            time.Time
	Connect          time.Time
	End              time.Time
	DurationMillis   int64
	TerminationCause uint16
	Rating           *Rating
	// OverLimit: the reported duration exceeds the transaction's time
	// limit (plus the node's grace); Rating was computed on the capped
	// duration and DurationMillis is what was reported. Recorded on the
	// Usage for operators to review.
	OverLimit bool
	// Phase is where in the call's life the report stands (lifecycle.go).
	// Set, the command is written as version 4 and applied with the
	// lifecycle rules: idempotency by content, one paid final per
	// transaction and role, conflicts flagged, usage checked against its
	// transaction. PhaseNone: the rules of versions 1–3 (replay only).
	Phase UsagePhase
	// Matched: the proposer found TransactionID in its replica (and rated
	// the usage against it). A version 4 usage whose transaction exists
	// but whose proposer did not see it is refused with Stale, nothing
	// written, so a node that is behind can never record a matched call
	// unrated.
	Matched bool
	// OtherFinal and Adjust serve a network with a shared billing basis
	// (Network.BillingBasis): OtherFinal is the usage id of the other
	// role's paid final the proposer saw (0: none), and Adjust the other
	// side's rating on the basis duration. Apply refuses a paying final
	// whose OtherFinal is not the ledger's (Stale), and posts the other
	// side's difference to Adjust.
	OtherFinal uint64
	Adjust     *Rating
	// Quality is the attempt's quality as reported (quality.go). Set (with
	// a Phase), the command is written as version 6; the ledger stores it
	// on the Usage and applies nothing else from it.
	Quality *UsageQuality

	// legacyV1 is set when the command was decoded from a version 1
	// envelope: it is applied with the version 1 rules (post-once key
	// without the role; usage of either role cascaded), so that replaying
	// an old log reproduces its state. Encode always writes the current
	// version.
	legacyV1 bool
}

// ClosePeriod closes the open period [previous End, End) under ID. End must
// be after the previous period's end; IDs are unique.
type ClosePeriod struct {
	At  time.Time `json:"at"`
	ID  string    `json:"id"`
	End time.Time `json:"end"`
}

// AckOutbox removes delivered outbox items; unknown IDs are ignored
// (Result.Count says how many were removed).
type AckOutbox struct {
	IDs []uint64 `json:"ids"`
}

// RevokeCert records a revoked certificate serial (hex; case and ':'
// separators are normalised away).
type RevokeCert struct {
	Serial string    `json:"serial"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// PostEntry posts a manual journal entry (a correction is a reversing
// entry). The lines must balance per currency.
type PostEntry struct {
	At          time.Time     `json:"at"`
	EffectiveAt time.Time     `json:"effective_at"`
	Memo        string        `json:"memo"`
	Lines       []PostingLine `json:"lines"`
}

// Type implements Command.
func (SetNetwork) Type() CommandType { return TypeSetNetwork }

// Type is SetNetwork's: CreateNetwork is its version SetNetworkVersionCreate.
func (CreateNetwork) Type() CommandType { return TypeSetNetwork }

// Type implements Command.
func (PutMember) Type() CommandType { return TypePutMember }

// Type implements Command.
func (SetMemberStatus) Type() CommandType { return TypeSetMemberStatus }

// Type implements Command.
func (PutTrunk) Type() CommandType { return TypePutTrunk }

// Type implements Command.
func (RemoveTrunk) Type() CommandType { return TypeRemoveTrunk }

// Type implements Command.
func (PutPeer) Type() CommandType { return TypePutPeer }

// Type implements Command.
func (RemovePeer) Type() CommandType { return TypeRemovePeer }

// Type implements Command.
func (PutRoutes) Type() CommandType { return TypePutRoutes }

// Type implements Command.
func (RemoveRoute) Type() CommandType { return TypeRemoveRoute }

// Type implements Command.
func (PutDeckVersion) Type() CommandType { return TypePutDeckVersion }

// Type implements Command.
func (Authorize) Type() CommandType { return TypeAuthorize }

// Type implements Command.
func (RecordUsage) Type() CommandType { return TypeRecordUsage }

// Type implements Command.
func (ClosePeriod) Type() CommandType { return TypeClosePeriod }

// Type implements Command.
func (AckOutbox) Type() CommandType { return TypeAckOutbox }

// Type implements Command.
func (RevokeCert) Type() CommandType { return TypeRevokeCert }

// Type implements Command.
func (PostEntry) Type() CommandType { return TypePostEntry }
