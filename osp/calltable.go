package osp

// callField describes one simple element of CallInfo: a repeated typed
// value or a single string. The tables drive both the decoder (by name)
// and the encoder (in order), so the two cannot drift apart.
type callField struct {
	tag      string
	typed    func(*CallInfo) *TypedValues
	str      func(*CallInfo) *string
	critical bool // emitted with critical="false", as the toolkit does
}

// callHead are the party and device elements, which the toolkit sends
// right after the CallIds; callTail the optional extras that follow the
// component's own elements. Order follows the toolkit's.
var (
	callHead = []callField{
		{tag: "SourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.SourceInfo }},
		{tag: "DeviceInfo", typed: func(c *CallInfo) *TypedValues { return &c.DeviceInfo }},
		{tag: "SourceAlternate", typed: func(c *CallInfo) *TypedValues { return &c.SourceAlternate }},
		{tag: "DestinationInfo", typed: func(c *CallInfo) *TypedValues { return &c.DestinationInfo }},
		{tag: "DestinationAlternate", typed: func(c *CallInfo) *TypedValues { return &c.DestinationAlternate }},
	}
	callTail = []callField{
		{tag: "CustomerId", str: func(c *CallInfo) *string { return &c.CustomerID }, critical: true},
		{tag: "DeviceId", str: func(c *CallInfo) *string { return &c.DeviceID }, critical: true},
		{tag: "SourceRealm", str: func(c *CallInfo) *string { return &c.SourceRealm }},
		{tag: "DestinationRealm", str: func(c *CallInfo) *string { return &c.DestinationRealm }},
		{tag: "ContactSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.ContactSourceInfo }},
		{tag: "DiversionSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.DiversionSourceInfo }},
		{tag: "FromSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.FromSourceInfo }},
		{tag: "IdBypassSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.IdBypassSourceInfo }},
		{tag: "IdentitySourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.IdentitySourceInfo }},
		{tag: "AssertedIdSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.AssertedIdSourceInfo }},
		{tag: "ChargeInfoSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.ChargeInfoSourceInfo }},
		{tag: "RemotePartyIdSourceInfo", typed: func(c *CallInfo) *TypedValues { return &c.RemotePartyIdSourceInfo }},
		{tag: "RequestDestinationInfo", typed: func(c *CallInfo) *TypedValues { return &c.RequestDestinationInfo }},
		{tag: "ToDestinationInfo", typed: func(c *CallInfo) *TypedValues { return &c.ToDestinationInfo }},
		{tag: "DiversionDeviceInfo", typed: func(c *CallInfo) *TypedValues { return &c.DiversionDeviceInfo }},
		{tag: "ApplicationId", str: func(c *CallInfo) *string { return &c.ApplicationID }},
		{tag: "NetworkTranslatedCalledNumber", typed: func(c *CallInfo) *TypedValues { return &c.NetworkTranslatedCalledNumber }},
		{tag: "ServiceProviderId", typed: func(c *CallInfo) *TypedValues { return &c.ServiceProviderID }},
		{tag: "SystemId", str: func(c *CallInfo) *string { return &c.SystemID }},
		{tag: "RelatedCallIdReason", str: func(c *CallInfo) *string { return &c.RelatedCallIDReason }},
		{tag: "UserAgent", str: func(c *CallInfo) *string { return &c.UserAgent }},
		{tag: "SourceAudioAddress", str: func(c *CallInfo) *string { return &c.SourceAudioAddress }},
		{tag: "SourceVideoAddress", str: func(c *CallInfo) *string { return &c.SourceVideoAddress }},
		{tag: "JIP", str: func(c *CallInfo) *string { return &c.JIP }},
		{tag: "TransferId", str: func(c *CallInfo) *string { return &c.TransferID }},
		{tag: "TransferStatus", str: func(c *CallInfo) *string { return &c.TransferStatus }},
		{tag: "CallType", str: func(c *CallInfo) *string { return &c.CallType }},
		{tag: "CallCategory", str: func(c *CallInfo) *string { return &c.CallCategory }},
		{tag: "NetworkType", str: func(c *CallInfo) *string { return &c.NetworkType }},
		{tag: "ChargingVector", typed: func(c *CallInfo) *TypedValues { return &c.ChargingVector }},
		{tag: "Attestation", str: func(c *CallInfo) *string { return &c.Attestation }},
		{tag: "OriginationId", str: func(c *CallInfo) *string { return &c.OriginationID }},
	}
	callTyped, callStrings          []callField
	callTypedIndex, callStringIndex = map[string]int{}, map[string]int{}
)

func init() {
	for _, f := range append(append([]callField{}, callHead...), callTail...) {
		if f.typed != nil {
			callTypedIndex[f.tag] = len(callTyped)
			callTyped = append(callTyped, f)
		} else {
			callStringIndex[f.tag] = len(callStrings)
			callStrings = append(callStrings, f)
		}
	}
}

// field adapters used by the decoder.
func (f callField) field(ci *CallInfo) *TypedValues { return f.typed(ci) }
