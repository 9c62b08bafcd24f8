package osp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// componentKinds maps every accepted component element name, in both the
// toolkit's "z" spelling and ETSI's "s" spelling, to its kind.
var componentKinds = map[string]Kind{
	"AuthorizationRequest":      KindAuthorizationRequest,
	"AuthorisationRequest":      KindAuthorizationRequest,
	"AuthorizationResponse":     KindAuthorizationResponse,
	"AuthorisationResponse":     KindAuthorizationResponse,
	"AuthorizationIndication":   KindAuthorizationIndication,
	"AuthorisationIndication":   KindAuthorizationIndication,
	"AuthorizationConfirmation": KindAuthorizationConfirmation,
	"AuthorisationConfirmation": KindAuthorizationConfirmation,
	"UsageIndication":           KindUsageIndication,
	"UsageConfirmation":         KindUsageConfirmation,
	"ReauthorizationRequest":    KindReauthorizationRequest,
	"ReauthorisationRequest":    KindReauthorizationRequest,
	"ReauthorizationResponse":   KindReauthorizationResponse,
	"ReauthorisationResponse":   KindReauthorizationResponse,
	"CapabilitiesIndication":    KindCapabilitiesIndication,
	"CapabilitiesConfirmation":  KindCapabilitiesConfirmation,
	"PricingIndication":         KindPricingIndication,
	"PricingConfirmation":       KindPricingConfirmation,
}

// Extension element names (ours; always critical="false" on the wire).
const (
	elemVia      = "OspnodeVia"
	elemHopLimit = "OspnodeHopLimit"
)

func decode(b []byte, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	if err := prescan(b, lim); err != nil {
		return nil, err
	}
	if err := checkEncoding(b); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: lim.MaxDepth + 1}
	if err := doc.ReadFromBytes(b); err != nil {
		if errors.Is(err, etree.ErrMaxDepth) {
			return nil, errorf(StatusBadRequest, ErrLimit, "nesting deeper than %d", lim.MaxDepth)
		}
		return nil, errorf(StatusParseFailed, ErrMalformed, "xml: %v", err)
	}
	// Exactly one root element and no text around it (XML 1.0 §2.1:
	// only comments, PIs and white space may follow the root). etree
	// keeps a second root or trailing text as siblings; doc.Root() alone
	// would silently ignore them.
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, errorf(StatusParseFailed, ErrMalformed, "more than one root element")
			}
			root = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, errorf(StatusParseFailed, ErrMalformed, "text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errorf(StatusParseFailed, ErrMalformed, "no root element")
	}
	if root.Space != "" || root.Tag != "Message" {
		return nil, errorf(StatusBadRequest, ErrMalformed, "root element is <%s>, not <Message>", root.FullTag())
	}
	m := &Message{
		MessageID: root.SelectAttrValue("messageId", ""),
		Random:    root.SelectAttrValue("random", ""),
	}
	for c := range elems(root) {
		kind, ok := componentKinds[c.Tag]
		if !ok || c.Space != "" {
			if err := unknown(c); err != nil {
				return nil, err
			}
			continue
		}
		if len(m.Components) >= lim.MaxComponents {
			return nil, errorf(StatusBadRequest, ErrLimit, "more than %d components", lim.MaxComponents)
		}
		comp, err := decodeComponent(kind, c)
		if err != nil {
			return nil, err
		}
		m.Components = append(m.Components, comp)
	}
	if len(m.Components) == 0 {
		return nil, errorf(StatusBadRequest, ErrMalformed, "message has no component")
	}
	return m, nil
}

// prescan enforces lim on the raw bytes before any tree is built, and
// refuses DOCTYPE, entity declarations and processing instructions other
// than the leading XML declaration. It is a tokenizer of tag boundaries
// only: well-formedness is left to encoding/xml.
func prescan(b []byte, lim Limits) error {
	if int64(len(b)) > lim.MaxBodyBytes {
		return errorf(StatusBadRequest, ErrLimit, "document of %d bytes exceeds %d", len(b), lim.MaxBodyBytes)
	}
	elements, depth := 0, 0
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return nil
		}
		i += j
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return errorf(StatusParseFailed, ErrMalformed, "unterminated processing instruction")
			}
			if !bytes.HasPrefix(rest, []byte("<?xml ")) && !bytes.HasPrefix(rest, []byte("<?xml?")) ||
				len(bytes.TrimSpace(b[:i])) != 0 {
				return errorf(StatusBadRequest, ErrForbiddenMarkup, "processing instruction other than the xml declaration")
			}
			i += end + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return errorf(StatusParseFailed, ErrMalformed, "unterminated comment")
			}
			i += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest, []byte("]]>"))
			if end < 0 {
				return errorf(StatusParseFailed, ErrMalformed, "unterminated cdata section")
			}
			i += end + 3
		case bytes.HasPrefix(rest, []byte("<!")):
			return errorf(StatusBadRequest, ErrForbiddenMarkup, "doctype or entity declaration")
		case bytes.HasPrefix(rest, []byte("</")):
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				return errorf(StatusParseFailed, ErrMalformed, "unterminated end tag")
			}
			depth--
			i += end + 1
		default:
			elements++
			depth++
			if elements > lim.MaxElements {
				return errorf(StatusBadRequest, ErrLimit, "more than %d elements", lim.MaxElements)
			}
			if depth > lim.MaxDepth {
				return errorf(StatusBadRequest, ErrLimit, "nesting deeper than %d", lim.MaxDepth)
			}
			// Walk the start tag, measuring quoted attribute values.
			k := 1
			var quote byte
			start := 0
			closed := false
			for ; k < len(rest); k++ {
				c := rest[k]
				if quote != 0 {
					if c == quote {
						if k-start-1 > lim.MaxAttrBytes {
							return errorf(StatusBadRequest, ErrLimit, "attribute value longer than %d bytes", lim.MaxAttrBytes)
						}
						quote = 0
					}
					continue
				}
				if c == '"' || c == '\'' {
					quote, start = c, k
					continue
				}
				if c == '>' {
					closed = true
					break
				}
			}
			if !closed {
				if quote != 0 && k-start-1 > lim.MaxAttrBytes {
					return errorf(StatusBadRequest, ErrLimit, "attribute value longer than %d bytes", lim.MaxAttrBytes)
				}
				return errorf(StatusParseFailed, ErrMalformed, "unterminated start tag")
			}
			if rest[k-1] == '/' {
				depth--
			}
			i += k + 1
		}
	}
}

// elems yields the child elements of e, skipping character data, comments
// and other tokens.
func elems(e *etree.Element) func(yield func(*etree.Element) bool) {
	return func(yield func(*etree.Element) bool) {
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				if !yield(c) {
					return
				}
			}
		}
	}
}

// unknown decides the fate of an element the decoder does not know: skipped
// when marked critical="false", refused otherwise (as the toolkit does).
func unknown(e *etree.Element) error {
	if strings.EqualFold(strings.TrimSpace(e.SelectAttrValue("critical", "")), "false") {
		return nil
	}
	return errorf(StatusUnsupportedCriticalElement, ErrUnknownCritical, "<%s> inside <%s>", e.FullTag(), parentName(e))
}

func parentName(e *etree.Element) string {
	if p := e.Parent(); p != nil && p.Tag != "" {
		return p.FullTag()
	}
	return "document"
}

func bad(e *etree.Element, format string, args ...any) *Error {
	return errorf(StatusBadRequest, ErrMalformed, "<%s>: "+format, append([]any{e.FullTag()}, args...)...)
}

// text returns the trimmed text of a leaf element. The toolkit puts a line
// feed after every start tag, so every value arrives as "\nvalue".
func text(e *etree.Element) (string, error) {
	var s string
	n := 0
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			if n == 0 {
				s = t.Data
			} else {
				s += t.Data
			}
			n++
		case *etree.Element:
			return "", bad(e, "element found where a value was expected")
		}
	}
	return strings.TrimSpace(s), nil
}

// binary decodes a value carrying encoding="base64" (or "cdata", or no
// encoding attribute: literal text).
func binary(e *etree.Element) (Binary, error) {
	s, err := text(e)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, nil // absent and empty are one value
	}
	switch enc := e.SelectAttrValue("encoding", ""); enc {
	case "base64":
		if strings.ContainsAny(s, " \t\r\n") {
			s = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, s)
		}
		out, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, bad(e, "invalid base64: %v", err)
		}
		return out, nil
	case "", "cdata":
		return Binary(s), nil
	default:
		return nil, bad(e, "unknown encoding %q", enc)
	}
}

func typed(e *etree.Element) (TypedValue, error) {
	s, err := text(e)
	return TypedValue{Type: e.SelectAttrValue("type", ""), Value: s}, err
}

const timeLayout = "2006-01-02T15:04:05Z"

func timestamp(e *etree.Element) (time.Time, error) {
	s, err := text(e)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		// Other implementations send offsets or fractions.
		t, err = time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, bad(e, "invalid timestamp %q", s)
		}
	}
	return t.UTC(), nil
}

func uintValue(e *etree.Element) (uint64, error) {
	s, err := text(e)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, bad(e, "invalid unsigned number %q", s)
	}
	return v, nil
}

func intValue(e *etree.Element) (int, error) {
	s, err := text(e)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, bad(e, "invalid number %q", s)
	}
	return int(v), nil
}

// decimalText validates an exact decimal such as "30.000" or "3600".
func decimalText(e *etree.Element) (string, error) {
	s, err := text(e)
	if err != nil {
		return "", err
	}
	if !isDecimal(s) {
		return "", bad(e, "invalid decimal %q", s)
	}
	return s, nil
}

func isDecimal(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && len(s) <= 40
}

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

func decodeUsageDetail(e *etree.Element) (*UsageDetail, error) {
	u := &UsageDetail{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Service":
			u.Service, err = decodeService(c)
		case "Amount":
			u.Amount, err = decimalText(c)
		case "Increment":
			u.Increment, err = intValue(c)
		case "Unit":
			u.Unit, err = text(c)
		case "TerminationCause":
			tc := TerminationCause{Type: c.SelectAttrValue("type", "")}
			for tcc := range elems(c) {
				switch tcc.Tag {
				case "TCCode":
					tc.Code, err = intValue(tcc)
				case "Description":
					tc.Description, err = text(tcc)
				default:
					err = unknown(tcc)
				}
				if err != nil {
					break
				}
			}
			u.TerminationCause = append(u.TerminationCause, tc)
		case "SignalingProtocol":
			var tv TypedValue
			tv, err = typed(c)
			u.SignalingProtocol = append(u.SignalingProtocol, tv)
		case "Codec":
			var s string
			s, err = text(c)
			u.Codec = append(u.Codec, Codec{Service: c.SelectAttrValue("service", ""), Type: c.SelectAttrValue("type", ""), Value: s})
		case "SessionId":
			var v Binary
			v, err = binary(c)
			u.SessionID = append(u.SessionID, SessionID{Type: c.SelectAttrValue("type", ""), Value: v})
		case "PostDialDelay":
			var tv TypedValue
			if tv, err = typed(c); err == nil && !isDecimal(tv.Value) {
				err = bad(c, "invalid decimal %q", tv.Value)
			}
			u.PostDialDelay = append(u.PostDialDelay, tv)
		case "StartTime":
			u.StartTime, err = timestamp(c)
		case "EndTime":
			u.EndTime, err = timestamp(c)
		case "AlertTime":
			u.AlertTime, err = timestamp(c)
		case "ConnectTime":
			u.ConnectTime, err = timestamp(c)
		case "ReleaseSource":
			u.ReleaseSource, err = text(c)
		case "Statistics":
			u.Statistics, err = decodeStatistics(c)
		case "SourceAudioAddress":
			u.SourceAudioAddress, err = text(c)
		case "SourceVideoAddress":
			u.SourceVideoAddress, err = text(c)
		case "DestinationAudioAddress":
			u.DestinationAudioAddress, err = text(c)
		case "DestinationVideoAddress":
			u.DestinationVideoAddress, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

func decodeLoss(e *etree.Element) (Loss, error) {
	l := Loss{Direction: e.SelectAttrValue("direction", "")}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Packets":
			l.Packets, err = text(c)
		case "Fraction":
			l.Fraction, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return l, err
		}
	}
	return l, nil
}

func decodeDispersion(e *etree.Element) (Dispersion, error) {
	d := Dispersion{Direction: e.SelectAttrValue("direction", ""), Type: e.SelectAttrValue("type", "")}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Samples":
			d.Samples, err = text(c)
		case "Minimum":
			d.Minimum, err = text(c)
		case "Maximum":
			d.Maximum, err = text(c)
		case "Mean":
			d.Mean, err = text(c)
		case "Variance":
			d.Variance, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return d, err
		}
	}
	return d, nil
}

func directed(e *etree.Element) (DirectedValue, error) {
	s, err := text(e)
	return DirectedValue{Direction: e.SelectAttrValue("direction", ""), Value: s}, err
}

func decodeStatistics(e *etree.Element) (*Statistics, error) {
	s := &Statistics{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "LossSent":
			var l Loss
			l, err = decodeLoss(c)
			s.LossSent = &l
		case "LossReceived":
			var l Loss
			l, err = decodeLoss(c)
			s.LossReceived = &l
		case "OneWayDelay":
			var d Dispersion
			d, err = decodeDispersion(c)
			s.OneWayDelay = &d
		case "Metrics":
			var m Metrics
			m, err = decodeMetrics(c)
			s.Metrics = append(s.Metrics, m)
		case "RFactor", "MOSCQ", "MOSLQ", "ICPIF":
			var v DirectedValue
			v, err = directed(c)
			switch c.Tag {
			case "RFactor":
				s.RFactor = append(s.RFactor, v)
			case "MOSCQ":
				s.MOSCQ = append(s.MOSCQ, v)
			case "MOSLQ":
				s.MOSLQ = append(s.MOSLQ, v)
			default:
				s.ICPIF = append(s.ICPIF, v)
			}
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func decodeMetrics(e *etree.Element) (Metrics, error) {
	m := Metrics{Service: e.SelectAttrValue("service", ""), Type: e.SelectAttrValue("type", "")}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Lost":
			var l Loss
			l, err = decodeLoss(c)
			m.Lost = append(m.Lost, l)
		case "Jitter", "Delay", "RoundTripDelay":
			var d Dispersion
			d, err = decodeDispersion(c)
			switch c.Tag {
			case "Jitter":
				m.Jitter = append(m.Jitter, d)
			case "Delay":
				m.Delay = append(m.Delay, d)
			default:
				m.RoundTripDelay = append(m.RoundTripDelay, d)
			}
		case "TotalOctets", "TotalPackets":
			var v DirectedValue
			v, err = directed(c)
			if c.Tag == "TotalOctets" {
				m.TotalOctets = append(m.TotalOctets, v)
			} else {
				m.TotalPackets = append(m.TotalPackets, v)
			}
		default:
			err = unknown(c)
		}
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// checkEncoding refuses (410, encoding not supported) a document that
// declares an encoding other than UTF-8 or US-ASCII and has 8-bit bytes:
// the decoder reads UTF-8 only, and the bytes would otherwise fail as
// invalid UTF-8 (411), which hides the cause. A declared ISO-8859-1 body
// of ASCII bytes reads the same in UTF-8 and is accepted.
func checkEncoding(b []byte) error {
	enc := declaredEncoding(b)
	switch strings.ToLower(enc) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return nil
	}
	for _, c := range b {
		if c >= 0x80 {
			return errorf(StatusCharEncodingUnsupported, ErrMalformed, "declared encoding %q with 8-bit bytes: only UTF-8 is read", enc)
		}
	}
	return nil
}

// declaredEncoding returns the encoding pseudo-attribute of the xml
// declaration at the start of b, or "".
func declaredEncoding(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 {
		return ""
	}
	decl := b[:end]
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' && rest[0] != '\'' {
		return ""
	}
	q := rest[0]
	j := bytes.IndexByte(rest[1:], q)
	if j < 0 {
		return ""
	}
	return string(rest[1 : 1+j])
}
