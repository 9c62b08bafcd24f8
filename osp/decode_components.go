// Decoding of the components and the elements they share (CallInfo,
// parties, RoleInfo, Service).

package osp

import (
	"strconv"
	"time"

	"github.com/beevik/etree"
)

func decodeStatus(e *etree.Element) (Status, error) {
	var st Status
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Code":
			st.Code, err = intValue(c)
		case "Description":
			st.Description, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

func decodeService(e *etree.Element) (*Service, error) {
	s := &Service{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "ServiceType":
			s.ServiceType, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func decodeComponent(kind Kind, e *etree.Element) (Component, error) {
	c := Component{ID: e.SelectAttrValue("componentId", "")}
	var err error
	switch kind {
	case KindAuthorizationRequest:
		c.AuthorizationRequest, err = decodeAuthReq(e)
	case KindAuthorizationResponse:
		c.AuthorizationResponse, err = decodeAuthRsp(e)
	case KindAuthorizationIndication:
		c.AuthorizationIndication, err = decodeAuthInd(e)
	case KindAuthorizationConfirmation:
		c.AuthorizationConfirmation, err = decodeAuthCnf(e)
	case KindUsageIndication:
		c.UsageIndication, err = decodeUsageInd(e)
	case KindUsageConfirmation:
		var r UsageConfirmation
		r.Timestamp, r.Status, err = decodeConfirmation(e)
		c.UsageConfirmation = &r
	case KindReauthorizationRequest:
		c.ReauthorizationRequest, err = decodeReauthReq(e)
	case KindReauthorizationResponse:
		c.ReauthorizationResponse, err = decodeReauthRsp(e)
	case KindCapabilitiesIndication:
		c.CapabilitiesIndication, err = decodeCapInd(e)
	case KindCapabilitiesConfirmation:
		var r CapabilitiesConfirmation
		r.Timestamp, r.Status, err = decodeConfirmation(e)
		c.CapabilitiesConfirmation = &r
	case KindPricingIndication:
		c.PricingIndication, err = decodePricingInd(e)
	case KindPricingConfirmation:
		var r PricingConfirmation
		r.Timestamp, r.Status, err = decodeConfirmation(e)
		c.PricingConfirmation = &r
	}
	return c, err
}

func decodeAuthReq(e *etree.Element) (*AuthorizationRequest, error) {
	if err := onlyOnce(e, "Timestamp", "SourceInfo", "DestinationInfo", "MaximumDestinations", elemHopLimit); err != nil {
		return nil, err
	}
	r := &AuthorizationRequest{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "CallId":
			var id Binary
			id, err = binary(c)
			r.CallIDs = append(r.CallIDs, id)
		case "Service":
			r.Service, err = decodeService(c)
		case "MaximumDestinations":
			r.MaximumDestinations, err = intValue(c)
		case elemVia:
			var v string
			v, err = text(c)
			r.Via = append(r.Via, v)
		case elemHopLimit:
			r.HopLimit, err = intValue(c)
		default:
			err = r.CallInfo.decodeElem(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeAuthRsp(e *etree.Element) (*AuthorizationResponse, error) {
	r := &AuthorizationResponse{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "Status":
			r.Status, err = decodeStatus(c)
		case "TransactionId":
			r.TransactionID, err = uintValue(c)
		case "Destination":
			var d Destination
			d, err = decodeDestination(c)
			r.Destinations = append(r.Destinations, d)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeReauthRsp(e *etree.Element) (*ReauthorizationResponse, error) {
	if x := e.SelectElement(ElemReauthUnsupported); x != nil {
		e.RemoveChild(x) // ours: see ElemReauthUnsupported
	}
	a, err := decodeAuthRsp(e)
	if err != nil {
		return nil, err
	}
	return &ReauthorizationResponse{Timestamp: a.Timestamp, Status: a.Status, TransactionID: a.TransactionID, Destinations: a.Destinations}, nil
}

func decodeDestination(e *etree.Element) (Destination, error) {
	var d Destination
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "DestinationSignalAddress":
			d.SignalAddress, err = text(c)
		case "Token":
			d.Token, err = binary(c)
		case "CallId":
			d.CallID, err = binary(c)
		case "ValidAfter":
			d.ValidAfter, err = timestamp(c)
		case "ValidUntil":
			d.ValidUntil, err = timestamp(c)
		case "UsageDetail":
			d.UsageDetail, err = decodeUsageDetail(c)
		case "DestinationInfo":
			var tv TypedValue
			tv, err = typed(c)
			if tv.Type == TypeE164 && d.TranslatedCalled == "" {
				d.TranslatedCalled = tv.Value
			} else {
				d.DestinationInfo = append(d.DestinationInfo, tv)
			}
		case "SignalingProtocol":
			var tv TypedValue
			tv, err = typed(c)
			if tv.Type == TypeDestination || tv.Type == "" {
				d.Protocol = tv.Value
			}
		case "DestinationProtocol":
			d.Protocol, err = text(c)
		case "OSPVersion":
			d.OSPVersion, err = text(c)
		case "DestinationAlternate":
			var tv TypedValue
			tv, err = typed(c)
			if tv.Type == TypeNetwork && d.NetworkID == "" {
				d.NetworkID = tv.Value
			} else {
				d.DestinationAlternate = append(d.DestinationAlternate, tv)
			}
		default:
			err = unknown(c)
		}
		if err != nil {
			return d, err
		}
	}
	return d, nil
}

func decodeAuthInd(e *etree.Element) (*AuthorizationIndication, error) {
	if err := onlyOnce(e, "Timestamp", "TransactionId", "SourceInfo", "DestinationInfo"); err != nil {
		return nil, err
	}
	r := &AuthorizationIndication{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "Role":
			r.Role, err = text(c)
		case "TransactionId":
			r.TransactionID, err = uintValue(c)
		case "CallId":
			r.CallID, err = binary(c)
		case "Token":
			r.Token, err = binary(c)
		case "ValidAfter":
			r.ValidAfter, err = timestamp(c)
		case "ValidUntil":
			r.ValidUntil, err = timestamp(c)
		case "UsageDetail":
			r.UsageDetail, err = decodeUsageDetail(c)
		default:
			err = r.CallInfo.decodeElem(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeAuthCnf(e *etree.Element) (*AuthorizationConfirmation, error) {
	r := &AuthorizationConfirmation{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "Status":
			r.Status, err = decodeStatus(c)
		case "ValidAfter":
			r.ValidAfter, err = timestamp(c)
		case "ValidUntil":
			r.ValidUntil, err = timestamp(c)
		case "UsageDetail":
			r.UsageDetail, err = decodeUsageDetail(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeConfirmation(e *etree.Element) (ts time.Time, st Status, err error) {
	for c := range elems(e) {
		switch c.Tag {
		case "Timestamp":
			ts, err = timestamp(c)
		case "Status":
			st, err = decodeStatus(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return
		}
	}
	return
}

func decodeUsageInd(e *etree.Element) (*UsageIndication, error) {
	if err := onlyOnce(e, "Timestamp", "Role", "TransactionId", "CallId", "SourceInfo", "DestinationInfo", "UsageDetail", "SetupAttempt"); err != nil {
		return nil, err
	}
	r := &UsageIndication{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "Role":
			r.Role, err = text(c)
		case "RoleInfo":
			r.RoleInfo, err = decodeRoleInfo(c)
		case "TransactionId":
			r.TransactionID, err = uintValue(c)
		case "CallId":
			r.CallID, err = binary(c)
		case "UsageDetail":
			r.UsageDetail, err = decodeUsageDetail(c)
		default:
			err = r.CallInfo.decodeElem(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeReauthReq(e *etree.Element) (*ReauthorizationRequest, error) {
	r := &ReauthorizationRequest{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "Role":
			r.Role, err = text(c)
		case "TransactionId":
			r.TransactionID, err = uintValue(c)
		case "CallId":
			r.CallID, err = binary(c)
		case "UsageDetail":
			r.UsageDetail, err = decodeUsageDetail(c)
		case "Token":
			r.Token, err = binary(c)
		default:
			err = r.CallInfo.decodeElem(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeCapInd(e *etree.Element) (*CapabilitiesIndication, error) {
	r := &CapabilitiesIndication{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "DeviceInfo":
			var tv TypedValue
			tv, err = typed(c)
			r.DeviceInfo = append(r.DeviceInfo, tv)
		case "SourceAlternate":
			var tv TypedValue
			tv, err = typed(c)
			r.SourceAlternate = append(r.SourceAlternate, tv)
		case "OSPVersion":
			r.OSPVersion, err = text(c)
		case "CustomerId":
			r.CustomerID, err = text(c)
		case "DeviceId":
			r.DeviceID, err = text(c)
		case "Resources":
			for rc := range elems(c) {
				switch rc.Tag {
				case "AlmostOutOfResources":
					var s string
					if s, err = text(rc); err == nil {
						var v bool
						v, err = strconv.ParseBool(s)
						if err != nil {
							err = bad(rc, "invalid boolean %q", s)
						}
						r.AlmostOutOfResources = &v
					}
				default:
					err = unknown(rc)
				}
				if err != nil {
					return nil, err
				}
			}
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodePricingInd(e *etree.Element) (*PricingIndication, error) {
	r := &PricingIndication{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Timestamp":
			r.Timestamp, err = timestamp(c)
		case "SourceInfo":
			var tv TypedValue
			tv, err = typed(c)
			r.SourceInfo = append(r.SourceInfo, tv)
		case "DestinationInfo":
			var tv TypedValue
			tv, err = typed(c)
			r.DestinationInfo = append(r.DestinationInfo, tv)
		case "Service":
			r.Service, err = decodeService(c)
		case "Currency":
			r.Currency, err = text(c)
		case "Amount":
			r.Amount, err = decimalText(c)
		case "Increment":
			r.Increment, err = intValue(c)
		case "Unit":
			r.Unit, err = text(c)
		case "ValidAfter":
			r.ValidAfter, err = timestamp(c)
		case "ValidUntil":
			r.ValidUntil, err = timestamp(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeRoleInfo(e *etree.Element) (*RoleInfo, error) {
	r := &RoleInfo{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "State":
			r.State, err = text(c)
		case "Format":
			r.Format, err = text(c)
		case "VendorInfo":
			r.VendorInfo, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func decodeParty(e *etree.Element) (*PartyInfo, error) {
	p := &PartyInfo{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "UserName":
			p.UserName, err = text(c)
		case "UserId":
			p.UserID, err = text(c)
		case "UserGroup":
			p.UserGroup, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func decodeCDRProxy(e *etree.Element) (*CDRProxy, error) {
	p := &CDRProxy{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Host":
			p.Host, err = text(c)
		case "FolderName":
			p.FolderName, err = text(c)
		case "SubfolderName":
			p.SubfolderName, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// decodeElem decodes one child element of a call-describing component into
// ci; an element it does not know goes through unknown.
func (ci *CallInfo) decodeElem(c *etree.Element) error {
	if c.Space == "" {
		if i, ok := callTypedIndex[c.Tag]; ok {
			tv, err := typed(c)
			p := callTyped[i].field(ci)
			*p = append(*p, tv)
			return err
		}
		if i, ok := callStringIndex[c.Tag]; ok {
			s, err := text(c)
			*callStrings[i].str(ci) = s
			return err
		}
	}
	var err error
	switch c.Tag {
	case "CustomInfo":
		var v Binary
		v, err = binary(c)
		idx, perr := strconv.Atoi(c.SelectAttrValue("index", ""))
		if perr != nil && err == nil {
			err = bad(c, "invalid index")
		}
		ci.CustomInfo = append(ci.CustomInfo, CustomInfo{Index: idx, Value: string(v)})
	case "CallingPartyInfo":
		ci.CallingPartyInfo, err = decodeParty(c)
	case "CalledPartyInfo":
		ci.CalledPartyInfo, err = decodeParty(c)
	case "CDRProxy":
		ci.CDRProxy, err = decodeCDRProxy(c)
	case "Group":
		for g := range elems(c) {
			if g.Tag == "GroupId" {
				ci.GroupID, err = text(g)
			} else {
				err = unknown(g)
			}
			if err != nil {
				break
			}
		}
	case "SipRequestDate":
		ci.SIPRequestDate, err = timestamp(c)
	case "SdpFingerprint":
		var s string
		s, err = text(c)
		ci.SDPFingerprints = append(ci.SDPFingerprints, s)
	case "SetupAttempt":
		ci.SetupAttempt, err = intValue(c)
	case "TotalSetupAttempts":
		ci.TotalSetupAttempts, err = intValue(c)
	default:
		err = unknown(c)
	}
	return err
}
