package osp

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"time"
)

// enc appends XML to b. The first error sticks; later calls are no-ops.
// Values are written with no surrounding whitespace: the toolkit does not
// trim and parses timestamps by fixed offsets.
type enc struct {
	b   []byte
	err *Error
}

func (e *enc) fail(format string, args ...any) {
	if e.err == nil {
		e.err = errorf(StatusInternalError, ErrEncode, format, args...)
	}
}

func (e *enc) raw(s string) { e.b = append(e.b, s...) }

func (e *enc) open(tag string) {
	e.b = append(e.b, '<')
	e.b = append(e.b, tag...)
	e.b = append(e.b, '>')
}

func (e *enc) close(tag string) {
	e.b = append(e.b, '<', '/')
	e.b = append(e.b, tag...)
	e.b = append(e.b, '>')
}

// openAttrs writes <tag a1="v1" a2="v2">; empty values are skipped.
func (e *enc) openAttrs(tag string, kv ...string) {
	e.b = append(e.b, '<')
	e.b = append(e.b, tag...)
	e.attrs(kv)
	e.b = append(e.b, '>')
}

func (e *enc) attrs(kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		e.b = append(e.b, ' ')
		e.b = append(e.b, kv[i]...)
		e.b = append(e.b, '=', '"')
		e.escape(kv[i+1], true)
		e.b = append(e.b, '"')
	}
}

// escape writes s as XML character data (or an attribute value). Control
// characters that XML 1.0 cannot carry are an encoding error.
func (e *enc) escape(s string, attr bool) {
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var rep string
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '"' && attr:
			rep = "&quot;"
		case c < 0x20 && (attr || c != '\t' && c != '\n' && c != '\r'):
			e.fail("control character 0x%02x in a value", c)
			return
		default:
			continue
		}
		e.b = append(e.b, s[last:i]...)
		e.b = append(e.b, rep...)
		last = i + 1
	}
	e.b = append(e.b, s[last:]...)
}

// leaf writes <tag>value</tag>, trimmed; nothing when value is empty.
func (e *enc) leaf(tag, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	e.open(tag)
	e.escape(value, false)
	e.close(tag)
}

func (e *enc) leafAttrs(tag, value string, kv ...string) {
	value = strings.TrimSpace(value)
	e.openAttrs(tag, kv...)
	e.escape(value, false)
	e.close(tag)
}

func (e *enc) typed(tag string, vs TypedValues, critical bool) {
	for _, v := range vs {
		if critical {
			e.leafAttrs(tag, v.Value, "type", v.Type, "critical", "false")
		} else {
			e.leafAttrs(tag, v.Value, "type", v.Type)
		}
	}
}

func (e *enc) binary(tag string, v []byte, kv ...string) {
	e.b = append(e.b, '<')
	e.b = append(e.b, tag...)
	e.attrs(kv)
	e.b = append(e.b, ` encoding="base64">`...)
	e.b = base64.StdEncoding.AppendEncode(e.b, v)
	e.close(tag)
}

func (e *enc) time(tag string, t time.Time) {
	if t.IsZero() {
		return
	}
	e.open(tag)
	e.b = t.UTC().AppendFormat(e.b, timeLayout)
	e.close(tag)
}

func (e *enc) int(tag string, v int) {
	e.open(tag)
	e.b = strconv.AppendInt(e.b, int64(v), 10)
	e.close(tag)
}

func (e *enc) txid(v uint64) {
	if v > math.MaxInt64 {
		e.fail("TransactionId %d is not below 2^63", v)
		return
	}
	e.open("TransactionId")
	e.b = strconv.AppendUint(e.b, v, 10)
	e.close("TransactionId")
}

func (e *enc) mandatoryTime(kind Kind, t time.Time) {
	if t.IsZero() {
		e.fail("%s without Timestamp", kind)
		return
	}
	e.time("Timestamp", t)
}

func (e *enc) status(kind Kind, s Status) {
	if s.Code <= 0 {
		e.fail("%s without a Status code", kind)
		return
	}
	d := strings.TrimSpace(s.Description)
	if d == "" {
		d = NewStatus(s.Code).Description
	}
	e.open("Status")
	e.int("Code", s.Code)
	e.leaf("Description", d)
	e.close("Status")
}

func appendMessage(dst []byte, m *Message) ([]byte, error) {
	if m == nil || len(m.Components) == 0 {
		return dst, errorf(StatusInternalError, ErrEncode, "message has no component")
	}
	e := enc{b: dst}
	e.raw(`<?xml version="1.0"?>`)
	// messageId is written even when empty: the toolkit's parser refuses
	// a <Message> without the attribute, and a request that came without
	// one is still answered (its empty id echoed back).
	e.b = append(e.b, `<Message messageId="`...)
	e.escape(m.MessageID, true)
	e.b = append(e.b, '"')
	e.attrs([]string{"random", m.Random})
	e.b = append(e.b, '>')
	for i := range m.Components {
		e.component(&m.Components[i])
	}
	e.close("Message")
	if e.err != nil {
		return dst, e.err
	}
	return e.b, nil
}

func (e *enc) component(c *Component) {
	kind := c.Kind()
	if kind == KindUnknown {
		e.fail("component %q has no or several kinds set", c.ID)
		return
	}
	tag := kind.String()
	e.b = append(e.b, '<')
	e.b = append(e.b, tag...)
	e.b = append(e.b, ` componentId="`...)
	e.escape(c.ID, true)
	e.b = append(e.b, '"', '>')
	switch kind {
	case KindAuthorizationRequest:
		e.authReq(c.AuthorizationRequest)
	case KindAuthorizationResponse:
		r := c.AuthorizationResponse
		e.response(kind, r.Timestamp, r.Status, r.TransactionID, true, r.Destinations)
	case KindReauthorizationResponse:
		r := c.ReauthorizationResponse
		if r.Status.OK() {
			e.fail("a successful ReauthorizationResponse crashes the OSP Toolkit: refuse with StatusReauthorizationRefused")
		}
		e.response(kind, r.Timestamp, r.Status, r.TransactionID, r.TransactionID != 0, r.Destinations)
		// The stock toolkit crashes on any ReauthorizationResponse it can
		// parse, a refusal included (OSP-WIRE.md): this critical element,
		// unknown to it, makes it refuse the answer at parse time (error
		// 13308) instead, at once and cleanly.
		e.b = append(e.b, "<"+ElemReauthUnsupported+">true</"+ElemReauthUnsupported+">"...)
	case KindAuthorizationIndication:
		r := c.AuthorizationIndication
		e.time("Timestamp", r.Timestamp)
		e.leaf("Role", r.Role)
		if r.TransactionID != 0 {
			e.txid(r.TransactionID)
		}
		if r.CallID != nil {
			e.binary("CallId", r.CallID)
		}
		e.callFields(callHead, &r.CallInfo)
		if r.Token != nil {
			e.binary("Token", r.Token)
		}
		e.time("ValidAfter", r.ValidAfter)
		e.time("ValidUntil", r.ValidUntil)
		e.usageDetail(r.UsageDetail)
		e.callTail(&r.CallInfo)
	case KindAuthorizationConfirmation:
		r := c.AuthorizationConfirmation
		e.mandatoryTime(kind, r.Timestamp)
		e.status(kind, r.Status)
		e.time("ValidAfter", r.ValidAfter)
		e.time("ValidUntil", r.ValidUntil)
		e.usageDetail(r.UsageDetail)
	case KindUsageIndication:
		r := c.UsageIndication
		e.time("Timestamp", r.Timestamp)
		e.leaf("Role", r.Role)
		if r.RoleInfo != nil {
			e.open("RoleInfo")
			e.leaf("State", r.RoleInfo.State)
			e.leaf("Format", r.RoleInfo.Format)
			e.leaf("VendorInfo", r.RoleInfo.VendorInfo)
			e.close("RoleInfo")
		}
		e.txid(r.TransactionID)
		if r.CallID != nil {
			e.binary("CallId", r.CallID)
		}
		e.callFields(callHead, &r.CallInfo)
		e.usageDetail(r.UsageDetail)
		e.callTail(&r.CallInfo)
	case KindUsageConfirmation:
		e.mandatoryTime(kind, c.UsageConfirmation.Timestamp)
		e.status(kind, c.UsageConfirmation.Status)
	case KindReauthorizationRequest:
		r := c.ReauthorizationRequest
		e.time("Timestamp", r.Timestamp)
		e.leaf("Role", r.Role)
		if r.CallID != nil {
			e.binary("CallId", r.CallID)
		}
		e.callFields(callHead, &r.CallInfo)
		e.txid(r.TransactionID)
		e.usageDetail(r.UsageDetail)
		if r.Token != nil {
			e.binary("Token", r.Token)
		}
		e.callTail(&r.CallInfo)
	case KindCapabilitiesIndication:
		r := c.CapabilitiesIndication
		e.time("Timestamp", r.Timestamp)
		e.typed("DeviceInfo", r.DeviceInfo, false)
		e.typed("SourceAlternate", r.SourceAlternate, false)
		e.leaf("OSPVersion", r.OSPVersion)
		if r.AlmostOutOfResources != nil {
			e.open("Resources")
			e.leaf("AlmostOutOfResources", strconv.FormatBool(*r.AlmostOutOfResources))
			e.close("Resources")
		}
		if r.CustomerID != "" {
			e.leafAttrs("CustomerId", r.CustomerID, "critical", "false")
		}
		if r.DeviceID != "" {
			e.leafAttrs("DeviceId", r.DeviceID, "critical", "false")
		}
	case KindCapabilitiesConfirmation:
		e.mandatoryTime(kind, c.CapabilitiesConfirmation.Timestamp)
		e.status(kind, c.CapabilitiesConfirmation.Status)
	case KindPricingIndication:
		r := c.PricingIndication
		e.time("Timestamp", r.Timestamp)
		e.typed("SourceInfo", r.SourceInfo, false)
		e.typed("DestinationInfo", r.DestinationInfo, false)
		e.service(r.Service)
		e.leaf("Currency", r.Currency)
		e.amount(r.Amount)
		if r.Increment != 0 {
			e.int("Increment", r.Increment)
		}
		e.leaf("Unit", r.Unit)
		e.time("ValidAfter", r.ValidAfter)
		e.time("ValidUntil", r.ValidUntil)
	case KindPricingConfirmation:
		e.mandatoryTime(kind, c.PricingConfirmation.Timestamp)
		e.status(kind, c.PricingConfirmation.Status)
	}
	e.close(tag)
}

func (e *enc) amount(a string) {
	if a == "" {
		return
	}
	if !isDecimal(a) {
		e.fail("amount %q is not a decimal number", a)
		return
	}
	e.leaf("Amount", a)
}

func (e *enc) service(s *Service) {
	if s == nil {
		return
	}
	if s.ServiceType == "" {
		e.raw("<Service/>")
		return
	}
	e.open("Service")
	e.leaf("ServiceType", s.ServiceType)
	e.close("Service")
}

func (e *enc) authReq(r *AuthorizationRequest) {
	e.time("Timestamp", r.Timestamp)
	for _, id := range r.CallIDs {
		e.binary("CallId", id)
	}
	e.callFields(callHead, &r.CallInfo)
	e.service(r.Service)
	if r.MaximumDestinations != 0 {
		e.int("MaximumDestinations", r.MaximumDestinations)
	}
	e.callTail(&r.CallInfo)
	for _, v := range r.Via {
		e.leafAttrs(elemVia, v, "critical", "false")
	}
	if r.HopLimit != 0 {
		e.openAttrs(elemHopLimit, "critical", "false")
		e.b = strconv.AppendInt(e.b, int64(r.HopLimit), 10)
		e.close(elemHopLimit)
	}
}

func (e *enc) response(kind Kind, ts time.Time, st Status, txid uint64, withTx bool, dests []Destination) {
	e.mandatoryTime(kind, ts)
	e.status(kind, st)
	if withTx {
		e.txid(txid)
	}
	if !st.OK() && len(dests) > 0 {
		e.fail("%s with status %d carries destinations: a refusal must have none", kind, st.Code)
		return
	}
	for i := range dests {
		e.destination(&dests[i])
	}
}

func (e *enc) destination(d *Destination) {
	switch {
	case strings.TrimSpace(d.SignalAddress) == "":
		e.fail("destination without DestinationSignalAddress")
		return
	case len(d.Token) == 0:
		e.fail("destination %s without Token", d.SignalAddress)
		return
	case len(d.CallID) == 0:
		e.fail("destination %s without CallId", d.SignalAddress)
		return
	}
	e.open("Destination")
	if d.Protocol != "" {
		e.leafAttrs("SignalingProtocol", d.Protocol, "type", TypeDestination)
	}
	e.leaf("OSPVersion", d.OSPVersion)
	if d.TranslatedCalled != "" {
		e.leafAttrs("DestinationInfo", d.TranslatedCalled, "type", TypeE164)
	}
	e.typed("DestinationInfo", d.DestinationInfo, false)
	e.leaf("DestinationSignalAddress", d.SignalAddress)
	e.binary("Token", d.Token)
	e.time("ValidAfter", d.ValidAfter)
	e.time("ValidUntil", d.ValidUntil)
	if u := d.UsageDetail; u != nil && u.Amount != "" {
		if _, err := strconv.ParseUint(u.Amount, 10, 31); err != nil {
			e.fail("destination %s: time limit amount %q is not a whole number of seconds", d.SignalAddress, u.Amount)
		}
	}
	e.usageDetail(d.UsageDetail)
	e.binary("CallId", d.CallID)
	if d.NetworkID != "" {
		e.leafAttrs("DestinationAlternate", d.NetworkID, "type", TypeNetwork)
	}
	e.typed("DestinationAlternate", d.DestinationAlternate, false)
	e.close("Destination")
}

func (e *enc) callFields(fields []callField, ci *CallInfo) {
	for _, f := range fields {
		if f.typed != nil {
			e.typed(f.tag, *f.typed(ci), f.critical)
			continue
		}
		v := *f.str(ci)
		if v == "" {
			continue
		}
		if f.critical {
			e.leafAttrs(f.tag, v, "critical", "false")
		} else {
			e.leaf(f.tag, v)
		}
	}
}

// callTail writes the optional extras of CallInfo after a component's own
// elements.
func (e *enc) callTail(ci *CallInfo) {
	if ci.GroupID != "" {
		e.open("Group")
		e.leaf("GroupId", ci.GroupID)
		e.close("Group")
	}
	if ci.SetupAttempt != 0 {
		e.int("SetupAttempt", ci.SetupAttempt)
	}
	if ci.TotalSetupAttempts != 0 {
		e.int("TotalSetupAttempts", ci.TotalSetupAttempts)
	}
	for _, c := range ci.CustomInfo {
		idx := strconv.Itoa(c.Index)
		if safeText(c.Value) {
			e.leafAttrs("CustomInfo", c.Value, "index", idx)
		} else {
			e.binary("CustomInfo", []byte(c.Value), "index", idx)
		}
	}
	e.party("CallingPartyInfo", ci.CallingPartyInfo)
	e.party("CalledPartyInfo", ci.CalledPartyInfo)
	if p := ci.CDRProxy; p != nil {
		e.open("CDRProxy")
		e.leaf("Host", p.Host)
		e.leaf("FolderName", p.FolderName)
		e.leaf("SubfolderName", p.SubfolderName)
		e.close("CDRProxy")
	}
	e.time("SipRequestDate", ci.SIPRequestDate)
	for _, f := range ci.SDPFingerprints {
		e.leafAttrs("SdpFingerprint", f)
	}
	e.callFields(callTail, ci)
}

// safeText reports whether s survives as literal element text: no leading
// or trailing whitespace and no control characters.
func safeText(s string) bool {
	if s == "" || strings.TrimSpace(s) != s {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return printable([]byte(s))
}

func (e *enc) party(tag string, p *PartyInfo) {
	if p == nil {
		return
	}
	e.open(tag)
	e.leaf("UserName", p.UserName)
	e.leaf("UserId", p.UserID)
	e.leaf("UserGroup", p.UserGroup)
	e.close(tag)
}

func (e *enc) usageDetail(u *UsageDetail) {
	if u == nil {
		return
	}
	e.open("UsageDetail")
	e.service(u.Service)
	for _, tc := range u.TerminationCause {
		e.openAttrs("TerminationCause", "type", tc.Type)
		e.int("TCCode", tc.Code)
		e.leaf("Description", tc.Description)
		e.close("TerminationCause")
	}
	e.typed("SignalingProtocol", u.SignalingProtocol, false)
	for _, c := range u.Codec {
		e.leafAttrs("Codec", c.Value, "service", c.Service, "type", c.Type)
	}
	for _, s := range u.SessionID {
		e.binary("SessionId", s.Value, "type", s.Type)
	}
	for _, p := range u.PostDialDelay {
		if !isDecimal(p.Value) {
			e.fail("post-dial delay %q is not a decimal", p.Value)
		}
	}
	e.typed("PostDialDelay", u.PostDialDelay, false)
	e.amount(u.Amount)
	if u.Increment != 0 {
		e.int("Increment", u.Increment)
	}
	unit := u.Unit
	if unit == "" && (u.Amount != "" || u.Increment != 0) {
		unit = UnitSeconds
	}
	if unit != "" && unit != UnitSeconds {
		e.fail("UsageDetail Unit %q: the toolkit understands only %q", unit, UnitSeconds)
	}
	e.leaf("Unit", unit)
	e.time("StartTime", u.StartTime)
	e.time("EndTime", u.EndTime)
	e.time("AlertTime", u.AlertTime)
	e.time("ConnectTime", u.ConnectTime)
	e.leaf("ReleaseSource", u.ReleaseSource)
	e.statistics(u.Statistics)
	e.leaf("SourceAudioAddress", u.SourceAudioAddress)
	e.leaf("SourceVideoAddress", u.SourceVideoAddress)
	e.leaf("DestinationAudioAddress", u.DestinationAudioAddress)
	e.leaf("DestinationVideoAddress", u.DestinationVideoAddress)
	e.close("UsageDetail")
}

// Statistics and its children go out with critical="false", as the toolkit
// sends them: a server that does not know them ignores them.
func (e *enc) statistics(s *Statistics) {
	if s == nil {
		return
	}
	e.openAttrs("Statistics", "critical", "false")
	e.loss("LossSent", s.LossSent)
	e.loss("LossReceived", s.LossReceived)
	if s.OneWayDelay != nil {
		e.dispersion("OneWayDelay", *s.OneWayDelay)
	}
	for _, m := range s.Metrics {
		e.openAttrs("Metrics", "service", m.Service, "type", m.Type)
		for i := range m.Lost {
			e.loss("Lost", &m.Lost[i])
		}
		for _, d := range m.Jitter {
			e.dispersion("Jitter", d)
		}
		for _, d := range m.Delay {
			e.dispersion("Delay", d)
		}
		for _, d := range m.RoundTripDelay {
			e.dispersion("RoundTripDelay", d)
		}
		e.directed("TotalOctets", m.TotalOctets)
		e.directed("TotalPackets", m.TotalPackets)
		e.close("Metrics")
	}
	e.directed("RFactor", s.RFactor)
	e.directed("MOSCQ", s.MOSCQ)
	e.directed("MOSLQ", s.MOSLQ)
	e.directed("ICPIF", s.ICPIF)
	e.close("Statistics")
}

func (e *enc) loss(tag string, l *Loss) {
	if l == nil {
		return
	}
	e.openAttrs(tag, "direction", l.Direction)
	e.leaf("Packets", l.Packets)
	e.leaf("Fraction", l.Fraction)
	e.close(tag)
}

func (e *enc) dispersion(tag string, d Dispersion) {
	e.openAttrs(tag, "direction", d.Direction, "type", d.Type)
	e.leaf("Samples", d.Samples)
	e.leaf("Minimum", d.Minimum)
	e.leaf("Maximum", d.Maximum)
	e.leaf("Mean", d.Mean)
	e.leaf("Variance", d.Variance)
	e.close(tag)
}

func (e *enc) directed(tag string, vs []DirectedValue) {
	for _, v := range vs {
		e.leafAttrs(tag, v.Value, "direction", v.Direction)
	}
}
