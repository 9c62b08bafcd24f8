package osp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
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

// ElemReauthUnsupported is the one extension of ours sent critical (no
// critical="false"), inside every ReauthorizationResponse: the stock OSP
// Toolkit (4.33.1) crashes on any ReauthorizationResponse it can parse, a
// refusal included (its parser frees the parsed response and returns NULL,
// which the caller dereferences), so the answer must be one it refuses
// while parsing (error 13308, at once). Our decoder knows the element.
const ElemReauthUnsupported = "OspnodeReauthorizationUnsupported"

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

// onlyOnce refuses a component in which an element that holds one value
// appears twice: two Timestamps, two called numbers of one type, two
// TransactionIds. Silently taking the first or the last of them would let
// a client show one value to a check and another to the ledger. The
// elements of tags are told apart by tag and type attribute (the toolkit
// sends DestinationInfo once per type); other elements may repeat (the
// toolkit's full usage repeats Codec, SdpFingerprint and others).
func onlyOnce(e *etree.Element, tags ...string) error {
	var seen map[string]struct{}
	for c := range elems(e) {
		if c.Space != "" || !slices.Contains(tags, c.Tag) {
			continue
		}
		k := c.Tag + "\x00" + c.SelectAttrValue("type", "")
		if _, dup := seen[k]; dup {
			if t := c.SelectAttrValue("type", ""); t != "" {
				return bad(c, "appears twice with type %q inside <%s>", t, e.FullTag())
			}
			return bad(c, "appears twice inside <%s>", e.FullTag())
		}
		if seen == nil {
			seen = make(map[string]struct{}, 8)
		}
		seen[k] = struct{}{}
	}
	return nil
}
