package osp

import (
	"strconv"
	"time"
)

// AuthorizationRequest is sent by an originating proxy to ask for routes
// (captures 01 and 06). CallIDs are the candidate SIP Call-IDs as raw bytes
// (base64 on the wire); the toolkit's test client passes 8.
type AuthorizationRequest struct {
	Timestamp time.Time `json:"timestamp,omitzero"`
	CallIDs   []Binary  `json:"callIds,omitempty"`
	CallInfo
	Service             *Service `json:"service,omitempty"`
	MaximumDestinations int      `json:"maximumDestinations,omitempty"`

	// Via is our federation forwarding path: the network ids this request
	// has already traversed, oldest first. Encoded as repeated
	// <OspnodeVia critical="false">, which the toolkit and other servers
	// ignore.
	Via []string `json:"via,omitempty"`
	// HopLimit is how many more networks may forward this request; 0 means
	// absent. Encoded as <OspnodeHopLimit critical="false">.
	HopLimit int `json:"hopLimit,omitempty"`
}

// AuthorizationResponse answers an AuthorizationRequest (captures 02, 11,
// 14). A refusal has no Destinations and a Status code above 299.
type AuthorizationResponse struct {
	Timestamp     time.Time     `json:"timestamp,omitzero"`
	Status        Status        `json:"status"`
	TransactionID uint64        `json:"transactionId,string"`
	Destinations  []Destination `json:"destinations,omitempty"`
}

// Destination is one route in an AuthorizationResponse or
// ReauthorizationResponse. The toolkit requires SignalAddress, Token and
// CallID on every destination.
type Destination struct {
	// SignalAddress is <DestinationSignalAddress>, e.g. "[192.0.2.7]:5060".
	SignalAddress string `json:"signalAddress"`
	// Token is the raw token (base64 on the wire): a "V=1" text token, an
	// XML TokenInfo or DER PKCS#7 SignedData.
	Token Binary `json:"token,omitempty"`
	// CallID is the Call-ID this destination was authorised for (raw bytes).
	CallID     Binary    `json:"callId,omitempty"`
	ValidAfter time.Time `json:"validAfter,omitzero"`
	ValidUntil time.Time `json:"validUntil,omitzero"`
	// UsageDetail carries the time limit (Amount × Increment seconds).
	UsageDetail *UsageDetail `json:"usageDetail,omitempty"`
	// TranslatedCalled is the called number to use towards this
	// destination (<DestinationInfo type="e164">).
	TranslatedCalled string `json:"translatedCalled,omitempty"`
	// DestinationInfo holds DestinationInfo elements of other types
	// (number portability and carrier data: routing number, spid, ocn, …).
	DestinationInfo TypedValues `json:"destinationInfo,omitempty"`
	// Protocol is <SignalingProtocol type="destination"> (sip, h323-Q931,
	// h323-LRQ, iax, xmpp); older servers send <DestinationProtocol>, which
	// decodes here too.
	Protocol string `json:"protocol,omitempty"`
	// OSPVersion is "True", "False" or "Unknown": whether the destination
	// supports OSP.
	OSPVersion string `json:"ospVersion,omitempty"`
	// NetworkID is <DestinationAlternate type="network">: the network
	// (trunk group) of the destination.
	NetworkID string `json:"networkId,omitempty"`
	// DestinationAlternate holds DestinationAlternate elements of other
	// types.
	DestinationAlternate TypedValues `json:"destinationAlternate,omitempty"`
}

// TimeLimit returns the authorised duration in seconds (Amount × Increment
// of the UsageDetail), or 0 when none was given or it is not a whole number.
func (d *Destination) TimeLimit() int {
	if d.UsageDetail == nil {
		return 0
	}
	a, err := strconv.Atoi(d.UsageDetail.Amount)
	if err != nil {
		return 0
	}
	inc := d.UsageDetail.Increment
	if inc == 0 {
		inc = 1
	}
	return a * inc
}

// TimeLimit returns the UsageDetail the toolkit reads as a time limit of
// seconds: Amount seconds, Increment 1, Unit "s", an empty Service.
func TimeLimit(seconds int) *UsageDetail {
	return &UsageDetail{Service: &Service{}, Amount: strconv.Itoa(seconds), Increment: 1, Unit: UnitSeconds}
}

// AuthorizationIndication is sent by a terminating device to have a token
// validated by the server (ETSI; the toolkit validates locally instead).
type AuthorizationIndication struct {
	Timestamp     time.Time `json:"timestamp,omitzero"`
	Role          string    `json:"role,omitempty"`
	TransactionID uint64    `json:"transactionId,string,omitempty"`
	CallID        Binary    `json:"callId,omitempty"`
	CallInfo
	Token       Binary       `json:"token,omitempty"`
	ValidAfter  time.Time    `json:"validAfter,omitzero"`
	ValidUntil  time.Time    `json:"validUntil,omitzero"`
	UsageDetail *UsageDetail `json:"usageDetail,omitempty"`
}

// AuthorizationConfirmation answers an AuthorizationIndication.
type AuthorizationConfirmation struct {
	Timestamp   time.Time    `json:"timestamp,omitzero"`
	Status      Status       `json:"status"`
	ValidAfter  time.Time    `json:"validAfter,omitzero"`
	ValidUntil  time.Time    `json:"validUntil,omitzero"`
	UsageDetail *UsageDetail `json:"usageDetail,omitempty"`
}

// UsageIndication reports a call attempt or a completed call (captures 03,
// 05, 07). Role says which side reports it; TransactionID is the one from
// the AuthorizationResponse (or the token).
type UsageIndication struct {
	Timestamp     time.Time `json:"timestamp,omitzero"`
	Role          string    `json:"role,omitempty"`
	RoleInfo      *RoleInfo `json:"roleInfo,omitempty"`
	TransactionID uint64    `json:"transactionId,string"`
	CallID        Binary    `json:"callId,omitempty"`
	CallInfo
	UsageDetail *UsageDetail `json:"usageDetail,omitempty"`
}

// UsageConfirmation answers one UsageIndication component (capture 04).
type UsageConfirmation struct {
	Timestamp time.Time `json:"timestamp,omitzero"`
	Status    Status    `json:"status"`
}

// ReauthorizationRequest asks to extend an authorisation during a call
// (capture 10: messageId and componentId are the literal "NULL"). Answer it
// with StatusReauthorizationRefused: the stock toolkit crashes on a
// successful ReauthorizationResponse.
type ReauthorizationRequest struct {
	Timestamp     time.Time `json:"timestamp,omitzero"`
	Role          string    `json:"role,omitempty"`
	TransactionID uint64    `json:"transactionId,string"`
	CallID        Binary    `json:"callId,omitempty"`
	CallInfo
	UsageDetail *UsageDetail `json:"usageDetail,omitempty"`
	Token       Binary       `json:"token,omitempty"`
}

// ReauthorizationResponse answers a ReauthorizationRequest. Send it only
// with a refusal Status (see ReauthorizationRequest).
type ReauthorizationResponse struct {
	Timestamp     time.Time     `json:"timestamp,omitzero"`
	Status        Status        `json:"status"`
	TransactionID uint64        `json:"transactionId,string,omitempty"`
	Destinations  []Destination `json:"destinations,omitempty"`
}

// CapabilitiesIndication announces a device and its resources (capture 08).
type CapabilitiesIndication struct {
	Timestamp       time.Time   `json:"timestamp,omitzero"`
	DeviceInfo      TypedValues `json:"deviceInfo,omitempty"`
	SourceAlternate TypedValues `json:"sourceAlternate,omitempty"`
	OSPVersion      string      `json:"ospVersion,omitempty"`
	// AlmostOutOfResources is <Resources><AlmostOutOfResources>; nil when
	// absent.
	AlmostOutOfResources *bool  `json:"almostOutOfResources,omitempty"`
	CustomerID           string `json:"customerId,omitempty"`
	DeviceID             string `json:"deviceId,omitempty"`
}

// CapabilitiesConfirmation answers a CapabilitiesIndication (capture 09).
type CapabilitiesConfirmation struct {
	Timestamp time.Time `json:"timestamp,omitzero"`
	Status    Status    `json:"status"`
}

// PricingIndication announces a price for a destination and service (ETSI;
// the toolkit never sends it).
type PricingIndication struct {
	Timestamp       time.Time   `json:"timestamp,omitzero"`
	SourceInfo      TypedValues `json:"sourceInfo,omitempty"`
	DestinationInfo TypedValues `json:"destinationInfo,omitempty"`
	Service         *Service    `json:"service,omitempty"`
	Currency        string      `json:"currency,omitempty"`
	// Amount is the exact decimal price per Increment × Unit.
	Amount     string    `json:"amount,omitempty"`
	Increment  int       `json:"increment,omitempty"`
	Unit       string    `json:"unit,omitempty"`
	ValidAfter time.Time `json:"validAfter,omitzero"`
	ValidUntil time.Time `json:"validUntil,omitzero"`
}

// PricingConfirmation answers a PricingIndication.
type PricingConfirmation struct {
	Timestamp time.Time `json:"timestamp,omitzero"`
	Status    Status    `json:"status"`
}
