package osp

import "time"

// Message is one OSP <Message>: an envelope carrying one or more components.
// MessageID and Random are opaque strings echoed back as received (the
// toolkit sends decimal strings, or the literal "NULL" for a
// ReauthorizationRequest). A Message is a plain value: it is not safe for
// concurrent mutation, but any number of goroutines may read it.
type Message struct {
	MessageID  string      `json:"messageId"`
	Random     string      `json:"random,omitempty"`
	Components []Component `json:"components"`
}

// Component is one component of a Message. Exactly one of the pointers is
// set; Kind reports which. ID is the componentId attribute, echoed back in
// the answer to the component.
type Component struct {
	ID string `json:"componentId"`

	AuthorizationRequest      *AuthorizationRequest      `json:"authorizationRequest,omitempty"`
	AuthorizationResponse     *AuthorizationResponse     `json:"authorizationResponse,omitempty"`
	AuthorizationIndication   *AuthorizationIndication   `json:"authorizationIndication,omitempty"`
	AuthorizationConfirmation *AuthorizationConfirmation `json:"authorizationConfirmation,omitempty"`
	UsageIndication           *UsageIndication           `json:"usageIndication,omitempty"`
	UsageConfirmation         *UsageConfirmation         `json:"usageConfirmation,omitempty"`
	ReauthorizationRequest    *ReauthorizationRequest    `json:"reauthorizationRequest,omitempty"`
	ReauthorizationResponse   *ReauthorizationResponse   `json:"reauthorizationResponse,omitempty"`
	CapabilitiesIndication    *CapabilitiesIndication    `json:"capabilitiesIndication,omitempty"`
	CapabilitiesConfirmation  *CapabilitiesConfirmation  `json:"capabilitiesConfirmation,omitempty"`
	PricingIndication         *PricingIndication         `json:"pricingIndication,omitempty"`
	PricingConfirmation       *PricingConfirmation       `json:"pricingConfirmation,omitempty"`
}

// Kind names the type of a component.
type Kind int

// The component kinds. KindUnknown is a Component with no pointer set (or,
// invalidly, more than one).
const (
	KindUnknown Kind = iota
	KindAuthorizationRequest
	KindAuthorizationResponse
	KindAuthorizationIndication
	KindAuthorizationConfirmation
	KindUsageIndication
	KindUsageConfirmation
	KindReauthorizationRequest
	KindReauthorizationResponse
	KindCapabilitiesIndication
	KindCapabilitiesConfirmation
	KindPricingIndication
	KindPricingConfirmation
)

var kindNames = [...]string{
	KindUnknown:                   "Unknown",
	KindAuthorizationRequest:      "AuthorizationRequest",
	KindAuthorizationResponse:     "AuthorizationResponse",
	KindAuthorizationIndication:   "AuthorizationIndication",
	KindAuthorizationConfirmation: "AuthorizationConfirmation",
	KindUsageIndication:           "UsageIndication",
	KindUsageConfirmation:         "UsageConfirmation",
	KindReauthorizationRequest:    "ReauthorizationRequest",
	KindReauthorizationResponse:   "ReauthorizationResponse",
	KindCapabilitiesIndication:    "CapabilitiesIndication",
	KindCapabilitiesConfirmation:  "CapabilitiesConfirmation",
	KindPricingIndication:         "PricingIndication",
	KindPricingConfirmation:       "PricingConfirmation",
}

// String returns the element name the encoder uses for the kind (the "z"
// spelling, which the OSP Toolkit sends and accepts).
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "Unknown"
	}
	return kindNames[k]
}

// Kind reports which component the Component carries; KindUnknown when none
// or more than one pointer is set.
func (c *Component) Kind() Kind {
	k, n := KindUnknown, 0
	set := func(b bool, kk Kind) {
		if b {
			k, n = kk, n+1
		}
	}
	set(c.AuthorizationRequest != nil, KindAuthorizationRequest)
	set(c.AuthorizationResponse != nil, KindAuthorizationResponse)
	set(c.AuthorizationIndication != nil, KindAuthorizationIndication)
	set(c.AuthorizationConfirmation != nil, KindAuthorizationConfirmation)
	set(c.UsageIndication != nil, KindUsageIndication)
	set(c.UsageConfirmation != nil, KindUsageConfirmation)
	set(c.ReauthorizationRequest != nil, KindReauthorizationRequest)
	set(c.ReauthorizationResponse != nil, KindReauthorizationResponse)
	set(c.CapabilitiesIndication != nil, KindCapabilitiesIndication)
	set(c.CapabilitiesConfirmation != nil, KindCapabilitiesConfirmation)
	set(c.PricingIndication != nil, KindPricingIndication)
	set(c.PricingConfirmation != nil, KindPricingConfirmation)
	if n != 1 {
		return KindUnknown
	}
	return k
}

// Status is the OSP <Status>: a code (see the Status* constants) and a
// human-readable description. The toolkit crashes on a response whose
// Status lacks either, so the encoder always writes both.
type Status struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// OK reports whether the status is a success (2xx), as the toolkit tests it.
func (s Status) OK() bool { return s.Code > 199 && s.Code < 300 }

// TypedValue is an element whose meaning is qualified by its type attribute,
// such as <SourceInfo type="e164">14048724799</SourceInfo> or
// <SourceAlternate type="network">SrcNetworkId</SourceAlternate>. Value is
// the trimmed text. Type is empty when the element had no type attribute.
type TypedValue struct {
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
}

// TypedValues is a repeated typed element, in the order received.
type TypedValues []TypedValue

// Get returns the value of the first element of type typ, or "".
func (tv TypedValues) Get(typ string) string {
	for _, v := range tv {
		if v.Type == typ {
			return v.Value
		}
	}
	return ""
}

// Well-known type attribute values.
const (
	TypeE164        = "e164"        // a telephone number (SourceInfo, DestinationInfo)
	TypeTransport   = "transport"   // an address such as [10.0.0.2]:5060 (DeviceInfo, *Alternate)
	TypeNetwork     = "network"     // a network id (SourceAlternate, DestinationAlternate)
	TypeSubscriber  = "subscriber"  // SourceAlternate
	TypeDestination = "destination" // SignalingProtocol, ServiceProviderId
	TypeSource      = "source"      // SignalingProtocol, PostDialDelay
)

// Roles of a UsageIndication/ReauthorizationRequest/AuthorizationIndication.
const (
	RoleSource      = "source"
	RoleDestination = "destination"
	RoleOther       = "other"
)

// PartyInfo is a <CallingPartyInfo> or <CalledPartyInfo>.
type PartyInfo struct {
	UserName  string `json:"userName,omitempty"`
	UserID    string `json:"userId,omitempty"`
	UserGroup string `json:"userGroup,omitempty"`
}

// CDRProxy is a <CDRProxy>: where a CDR proxy should file the record.
type CDRProxy struct {
	Host          string `json:"host,omitempty"`
	FolderName    string `json:"folderName,omitempty"`
	SubfolderName string `json:"subfolderName,omitempty"`
}

// RoleInfo is a <RoleInfo> of a UsageIndication.
type RoleInfo struct {
	State      string `json:"state,omitempty"`
	Format     string `json:"format,omitempty"`
	VendorInfo string `json:"vendorInfo,omitempty"`
}

// CustomInfo is a <CustomInfo index="N">: a user-defined value; base64 on
// the wire when binary, decoded here.
type CustomInfo struct {
	Index int    `json:"index"`
	Value string `json:"value"`
}

// Service is a <Service> element. The toolkit sends it empty (<Service/>);
// ServiceType (voice, data, npquery, …) is set when it carries one.
type Service struct {
	ServiceType string `json:"serviceType,omitempty"`
}

// CallInfo holds the elements that describe a call and are shared by
// AuthorizationRequest, UsageIndication, ReauthorizationRequest and
// AuthorizationIndication: parties, devices, alternates, SIP header
// information and the toolkit's many optional extras. Every field is
// optional; the zero value means "absent". Field names follow the element
// names.
type CallInfo struct {
	// SourceInfo is the calling number (type e164, sip, url, …).
	SourceInfo TypedValues `json:"sourceInfo,omitempty"`
	// DeviceInfo is the source device (type transport: the proxy's address).
	DeviceInfo TypedValues `json:"deviceInfo,omitempty"`
	// SourceAlternate: network id, switch id, transport, subscriber, ingress, egress.
	SourceAlternate TypedValues `json:"sourceAlternate,omitempty"`
	// DestinationInfo is the called number (e164) and number-portability
	// data (spid, altspid, ocn, spn, altspn, mcc, mnc, routing number, …).
	DestinationInfo TypedValues `json:"destinationInfo,omitempty"`
	// DestinationAlternate: transport address, network, deviceId of the
	// destination used (in usage).
	DestinationAlternate TypedValues `json:"destinationAlternate,omitempty"`

	CustomerID string       `json:"customerId,omitempty"`
	DeviceID   string       `json:"deviceId,omitempty"`
	CustomInfo []CustomInfo `json:"customInfo,omitempty"`

	SourceRealm      string `json:"sourceRealm,omitempty"`
	DestinationRealm string `json:"destinationRealm,omitempty"`

	// SIP header information reported by the source proxy.
	ContactSourceInfo       TypedValues `json:"contactSourceInfo,omitempty"`
	DiversionSourceInfo     TypedValues `json:"diversionSourceInfo,omitempty"`
	FromSourceInfo          TypedValues `json:"fromSourceInfo,omitempty"`
	IdBypassSourceInfo      TypedValues `json:"idBypassSourceInfo,omitempty"`
	IdentitySourceInfo      TypedValues `json:"identitySourceInfo,omitempty"`
	AssertedIdSourceInfo    TypedValues `json:"assertedIdSourceInfo,omitempty"`
	ChargeInfoSourceInfo    TypedValues `json:"chargeInfoSourceInfo,omitempty"`
	RemotePartyIdSourceInfo TypedValues `json:"remotePartyIdSourceInfo,omitempty"`
	RequestDestinationInfo  TypedValues `json:"requestDestinationInfo,omitempty"`
	ToDestinationInfo       TypedValues `json:"toDestinationInfo,omitempty"`
	DiversionDeviceInfo     TypedValues `json:"diversionDeviceInfo,omitempty"`

	NetworkTranslatedCalledNumber TypedValues `json:"networkTranslatedCalledNumber,omitempty"`
	ServiceProviderID             TypedValues `json:"serviceProviderId,omitempty"`
	ChargingVector                TypedValues `json:"chargingVector,omitempty"`

	ApplicationID       string `json:"applicationId,omitempty"`
	UserAgent           string `json:"userAgent,omitempty"`
	SourceAudioAddress  string `json:"sourceAudioAddress,omitempty"`
	SourceVideoAddress  string `json:"sourceVideoAddress,omitempty"`
	JIP                 string `json:"jip,omitempty"`
	Attestation         string `json:"attestation,omitempty"`
	OriginationID       string `json:"originationId,omitempty"`
	SystemID            string `json:"systemId,omitempty"`
	RelatedCallIDReason string `json:"relatedCallIdReason,omitempty"`
	CallType            string `json:"callType,omitempty"`
	CallCategory        string `json:"callCategory,omitempty"`
	NetworkType         string `json:"networkType,omitempty"`
	TransferID          string `json:"transferId,omitempty"`
	TransferStatus      string `json:"transferStatus,omitempty"`
	// GroupID is <Group><GroupId>: ties the attempts of one call together.
	GroupID string `json:"groupId,omitempty"`

	CallingPartyInfo *PartyInfo `json:"callingPartyInfo,omitempty"`
	CalledPartyInfo  *PartyInfo `json:"calledPartyInfo,omitempty"`
	CDRProxy         *CDRProxy  `json:"cdrProxy,omitempty"`

	SIPRequestDate  time.Time `json:"sipRequestDate,omitzero"`
	SDPFingerprints []string  `json:"sdpFingerprints,omitempty"`

	// SetupAttempt is this attempt's number; TotalSetupAttempts the count
	// (usage). Zero means absent.
	SetupAttempt       int `json:"setupAttempt,omitempty"`
	TotalSetupAttempts int `json:"totalSetupAttempts,omitempty"`
}

// Calling returns the calling number: the e164 SourceInfo, else the first
// SourceInfo of any type, else "".
func (ci *CallInfo) Calling() string {
	if v := ci.SourceInfo.Get(TypeE164); v != "" {
		return v
	}
	if len(ci.SourceInfo) > 0 {
		return ci.SourceInfo[0].Value
	}
	return ""
}

// Called returns the called number: the e164 DestinationInfo, else the
// first DestinationInfo without a type, else "".
func (ci *CallInfo) Called() string {
	if v := ci.DestinationInfo.Get(TypeE164); v != "" {
		return v
	}
	return ci.DestinationInfo.Get("")
}

// SourceDevice returns the transport address of the reporting device
// (DeviceInfo type transport), e.g. "[10.0.0.2]:5060".
func (ci *CallInfo) SourceDevice() string { return ci.DeviceInfo.Get(TypeTransport) }

// SourceNetworkID returns the SourceAlternate of type network, or "".
func (ci *CallInfo) SourceNetworkID() string { return ci.SourceAlternate.Get(TypeNetwork) }

// Status returns the Status of a response or confirmation component, and
// false for a request or indication (which carry none).
func (c *Component) Status() (Status, bool) {
	switch c.Kind() {
	case KindAuthorizationResponse:
		return c.AuthorizationResponse.Status, true
	case KindAuthorizationConfirmation:
		return c.AuthorizationConfirmation.Status, true
	case KindUsageConfirmation:
		return c.UsageConfirmation.Status, true
	case KindReauthorizationResponse:
		return c.ReauthorizationResponse.Status, true
	case KindCapabilitiesConfirmation:
		return c.CapabilitiesConfirmation.Status, true
	case KindPricingConfirmation:
		return c.PricingConfirmation.Status, true
	}
	return Status{}, false
}
