package osp

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// The XML token: <?xml version="1.0"?><TokenInfo random="…"> with the
// children SourceInfo, DestinationInfo, CallId, ValidAfter, ValidUntil,
// TransactionId, UsageDetail{Amount,Increment,Unit} in the order of the
// capture, then the optional look-ahead elements. No whitespace anywhere: the
// toolkit does not trim values. Written by hand (it is on the authorisation
// path; etree costs several times more), read with etree.

const tokenXMLDecl = `<?xml version="1.0"?>`

// appendTokenXML appends the XML form of c to b.
func appendTokenXML(b []byte, c *TokenClaims) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b = append(b, tokenXMLDecl...)
	b = append(b, `<TokenInfo random="`...)
	b = tokenAppendEscaped(b, c.Random)
	b = append(b, `"><SourceInfo type="e164">`...)
	b = tokenAppendEscaped(b, c.Calling)
	b = append(b, `</SourceInfo><DestinationInfo type="e164">`...)
	b = tokenAppendEscaped(b, c.Called)
	b = append(b, `</DestinationInfo><CallId encoding="base64">`...)
	b = base64.StdEncoding.AppendEncode(b, c.CallID)
	b = append(b, `</CallId><ValidAfter>`...)
	b = c.ValidAfter.UTC().AppendFormat(b, tokenTimeLayout)
	b = append(b, `</ValidAfter><ValidUntil>`...)
	b = c.ValidUntil.UTC().AppendFormat(b, tokenTimeLayout)
	b = append(b, `</ValidUntil><TransactionId>`...)
	b = strconv.AppendUint(b, c.TransactionID, 10)
	b = append(b, `</TransactionId><UsageDetail><Amount>`...)
	b = strconv.AppendInt(b, int64(c.AuthorisedSeconds), 10)
	b = append(b, `</Amount><Increment>1</Increment><Unit>s</Unit></UsageDetail>`...)
	if c.DestinationAddress != "" {
		b = append(b, `<DestinationAlternate type="transport">`...)
		b = tokenAppendEscaped(b, c.DestinationAddress)
		b = append(b, `</DestinationAlternate>`...)
	}
	if c.Protocol != "" {
		// Not every toolkit version knows this element: critical="false"
		// makes those that do not ignore it.
		b = append(b, `<DestinationProtocol critical="false">`...)
		b = tokenAppendEscaped(b, c.Protocol)
		b = append(b, `</DestinationProtocol>`...)
	}
	if c.OSPVersion != "" {
		b = append(b, `<OSPVersion>`...)
		b = tokenAppendEscaped(b, c.OSPVersion)
		b = append(b, `</OSPVersion>`...)
	}
	if c.DestinationNetworkID != "" {
		b = append(b, `<DestinationAlternate type="network">`...)
		b = tokenAppendEscaped(b, c.DestinationNetworkID)
		b = append(b, `</DestinationAlternate>`...)
	}
	b = append(b, `</TokenInfo>`...)
	return b, nil
}

// tokenAppendEscaped appends s with the five XML special characters escaped.
// validate has already refused whitespace and control bytes.
func tokenAppendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\'':
			b = append(b, "&apos;"...)
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// parseTokenXML parses a TokenInfo token. Unknown elements are refused unless
// they carry critical="false", as the toolkit does.
func parseTokenXML(tok []byte) (*TokenClaims, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(tok); err != nil {
		return nil, tokenErrf(TokenCheckFormat, "xml token: %v", err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, tokenErrf(TokenCheckFormat, "xml token has more than one root element")
			}
			root = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, tokenErrf(TokenCheckFormat, "xml token has text outside the root")
			}
		}
	}
	if root == nil || root.Space != "" || root.Tag != "TokenInfo" {
		return nil, tokenErrf(TokenCheckFormat, "xml token root is not TokenInfo")
	}
	var c TokenClaims
	if a := root.SelectAttr("random"); a != nil {
		c.Random = a.Value
	}
	for _, e := range root.ChildElements() {
		v, err := tokenLeaf(e)
		if err != nil {
			return nil, err
		}
		switch e.FullTag() {
		case "SourceInfo":
			c.Calling = v
		case "DestinationInfo":
			c.Called = v
		case "CallId":
			switch enc := e.SelectAttrValue("encoding", ""); enc {
			case "base64":
				c.CallID, err = base64.StdEncoding.DecodeString(v)
				if err != nil {
					return nil, tokenErrf(TokenCheckFormat, "xml token call-id: %v", err)
				}
			case "", "cdata":
				c.CallID = []byte(v)
			default:
				return nil, tokenErrf(TokenCheckFormat, "xml token call-id encoding %q", enc)
			}
		case "ValidAfter":
			c.ValidAfter, err = tokenParseTime(v)
		case "ValidUntil":
			c.ValidUntil, err = tokenParseTime(v)
		case "TransactionId":
			c.TransactionID, err = tokenParseTxID(v)
		case "UsageDetail":
			c.AuthorisedSeconds, err = tokenParseUsageDetail(e)
		case "DestinationAlternate":
			if e.SelectAttrValue("type", "") == "network" {
				c.DestinationNetworkID = v
			} else {
				c.DestinationAddress = v
			}
		case "DestinationProtocol", "SignalingProtocol":
			c.Protocol = v
		case "OSPVersion":
			c.OSPVersion = v
		default:
			if e.SelectAttrValue("critical", "") != "false" {
				return nil, tokenErrf(TokenCheckFormat, "xml token has unknown critical element <%s>", e.FullTag())
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// tokenLeaf returns the text of a leaf element, refusing surrounding
// whitespace (the toolkit would keep it and then fail to compare or parse).
func tokenLeaf(e *etree.Element) (string, error) {
	if len(e.ChildElements()) > 0 {
		return "", nil
	}
	v := e.Text()
	if strings.TrimSpace(v) != v {
		return "", tokenErrf(TokenCheckFormat, "xml token <%s> value has surrounding whitespace", e.FullTag())
	}
	return v, nil
}

// tokenParseUsageDetail returns Amount × Increment seconds (Unit must be s).
func tokenParseUsageDetail(e *etree.Element) (int, error) {
	amount, increment, unit := "", "1", ""
	for _, ch := range e.ChildElements() {
		v, err := tokenLeaf(ch)
		if err != nil {
			return 0, err
		}
		switch ch.Tag {
		case "Amount":
			amount = v
		case "Increment":
			increment = v
		case "Unit":
			unit = v
		case "Service":
		default:
			if ch.SelectAttrValue("critical", "") != "false" {
				return 0, tokenErrf(TokenCheckFormat, "xml token has unknown critical element <UsageDetail><%s>", ch.Tag)
			}
		}
	}
	if unit != "s" {
		return 0, tokenErrf(TokenCheckFormat, "xml token usage unit %q, want s", unit)
	}
	a, err := tokenParseSeconds(amount)
	if err != nil {
		return 0, err
	}
	i, err := tokenParseSeconds(increment)
	if err != nil {
		return 0, err
	}
	total := int64(a) * int64(i)
	if total > 1<<31-1 {
		return 0, tokenErrf(TokenCheckFormat, "xml token usage %d×%d out of range", a, i)
	}
	return int(total), nil
}

// tokenDetect picks the token kind from its first bytes as the toolkit does.
func tokenDetect(tok []byte) TokenKind {
	switch {
	case bytes.HasPrefix(tok, []byte(tokenTextPrefix)):
		return TokenText
	case bytes.HasPrefix(tok, []byte("<?xml")), bytes.HasPrefix(tok, []byte("<TokenInfo")):
		return TokenXML
	}
	return TokenSigned
}
