package osp

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// CheckToolkitRules reports whether an encoded OSP document (bare XML)
// obeys every rule the OSP Toolkit imposes on what a server sends it
// (design/OSP-WIRE.md, "XML it accepts from us"). It parses independently
// of Decode so that it can check Encode. It returns nil or an error naming
// the first broken rule. Safe for concurrent use.
func CheckToolkitRules(xmlDoc []byte) error {
	return checkRules(xmlDoc)
}

// toolkitElements are the element names the OSP Toolkit 4.33.1 knows
// (include/osp/ospmsgelem.h and the captures). Any other element must
// carry critical="false".
var toolkitElements = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`
	Message AuthorizationRequest AuthorisationRequest AuthorizationResponse AuthorisationResponse
	AuthorizationIndication AuthorisationIndication AuthorizationConfirmation AuthorisationConfirmation
	UsageIndication UsageConfirmation ReauthorizationRequest ReauthorisationRequest
	ReauthorizationResponse ReauthorisationResponse CapabilitiesIndication CapabilitiesConfirmation
	PricingIndication PricingConfirmation TokenInfo
	AlmostOutOfResources AlertTime Amount Audit AuditMaxMessages AuditState AuditTimeLimit AuditURL
	AuthorityURL CallId Code Codec ConnectTime Currency CustomerId CustomInfo Delay DelayLimit
	DelayPreference Description Destination DestinationAlternate DestinationInfo OSPVersion
	DestinationProtocol DestinationSignalAddress DeviceId DeviceInfo DiversionDeviceInfo
	DiversionSourceInfo EndPoint EndTime Fraction Group GroupId ICPIF Increment Jitter LossReceived
	LossSent Lost MaximumDestinations Maximum Mean Metrics Minimum MOSCQ MOSLQ OneWayDelay Packets
	PostDialDelay ReleaseSource Resources RFactor Role RoleInfo State Format VendorInfo RoundTripDelay
	Samples Service ServiceType SessionId SourceAlternate SourceInfo SourceSignalAddress StartTime
	Statistics Status TCCode TerminationCause Timestamp Token TotalOctets TotalPackets TransactionId
	Unit UsageDetail ValidAfter ValidUntil Variance SignalingProtocol SourceRealm DestinationRealm
	ContactSourceInfo FromSourceInfo IdBypassSourceInfo IdentitySourceInfo AssertedIdSourceInfo
	ChargeInfoSourceInfo RemotePartyIdSourceInfo RequestDestinationInfo ToDestinationInfo
	ApplicationId UserAgent SourceAudioAddress SourceVideoAddress DestinationAudioAddress
	DestinationVideoAddress JIP ServiceProviderId CallingPartyInfo CalledPartyInfo UserName UserId
	UserGroup SipRequestDate SdpFingerprint ChargingVector Attestation OriginationId
	NetworkTranslatedCalledNumber SystemId RelatedCallIdReason CDRProxy Host FolderName SubfolderName
	CallType CallCategory NetworkType TransferId TransferStatus SetupAttempt TotalSetupAttempts`) {
		toolkitElements[n] = true
	}
}

var wireTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)

// timeElements hold timestamps, which the toolkit parses by fixed offsets.
var timeElements = map[string]bool{
	"Timestamp": true, "ValidAfter": true, "ValidUntil": true, "StartTime": true, "EndTime": true,
	"AlertTime": true, "ConnectTime": true, "SipRequestDate": true,
}

func checkRules(b []byte) error {
	if bytes.Contains(b, []byte("<!")) && !bytes.Contains(b, []byte("<![CDATA[")) {
		return fmt.Errorf("osp rules: markup declaration (DOCTYPE/ENTITY/comment) present")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return fmt.Errorf("osp rules: not well-formed xml: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Message" || root.Space != "" {
		return fmt.Errorf("osp rules: components must be wrapped in <Message>")
	}
	if root.SelectAttr("messageId") == nil {
		return fmt.Errorf("osp rules: <Message> without messageId")
	}
	if err := checkTree(root); err != nil {
		return err
	}
	n := 0
	for c := range elems(root) {
		n++
		if err := checkComponent(c); err != nil {
			return fmt.Errorf("osp rules: <%s componentId=%q>: %w", c.Tag, c.SelectAttrValue("componentId", ""), err)
		}
	}
	if n == 0 {
		return fmt.Errorf("osp rules: <Message> has no component")
	}
	return nil
}

// checkTree checks every element: known to the toolkit or critical="false";
// leaf values without surrounding whitespace; timestamps in the fixed form;
// TransactionIds below 2^63; UsageDetail Unit exactly "s".
func checkTree(e *etree.Element) error {
	for c := range elems(e) {
		deliberate := c.FullTag() == ElemReauthUnsupported && e.Tag != "" && strings.HasPrefix(e.Tag, "Reauthori")
		if !toolkitElements[c.FullTag()] && c.SelectAttrValue("critical", "") != "false" && !deliberate {
			return fmt.Errorf("osp rules: <%s> is unknown to the toolkit and not marked critical=\"false\"", c.FullTag())
		}
		if hasElementChild(c) {
			if err := checkTree(c); err != nil {
				return err
			}
			continue
		}
		v := c.Text()
		if v != strings.TrimSpace(v) {
			return fmt.Errorf("osp rules: <%s> value %q has surrounding whitespace", c.Tag, v)
		}
		switch {
		case timeElements[c.Tag]:
			if !wireTime.MatchString(v) {
				return fmt.Errorf("osp rules: <%s> %q is not YYYY-MM-DDThh:mm:ssZ", c.Tag, v)
			}
		case c.Tag == "TransactionId":
			if t, err := strconv.ParseUint(v, 10, 64); err != nil || t > math.MaxInt64 {
				return fmt.Errorf("osp rules: TransactionId %q is not an unsigned number below 2^63", v)
			}
		case c.Tag == "Unit" && e.Tag == "UsageDetail":
			if v != UnitSeconds {
				return fmt.Errorf("osp rules: UsageDetail Unit %q is not \"s\"", v)
			}
		}
	}
	return nil
}

func hasElementChild(e *etree.Element) bool {
	for _, t := range e.Child {
		if _, ok := t.(*etree.Element); ok {
			return true
		}
	}
	return false
}

func checkComponent(c *etree.Element) error {
	if c.SelectAttr("componentId") == nil {
		return fmt.Errorf("no componentId")
	}
	isResponse := strings.HasSuffix(c.Tag, "Response") || strings.HasSuffix(c.Tag, "Confirmation")
	if !isResponse {
		return nil
	}
	if c.SelectElement("Timestamp") == nil {
		return fmt.Errorf("no Timestamp")
	}
	st := c.SelectElement("Status")
	if st == nil {
		return fmt.Errorf("no Status (the toolkit crashes without it)")
	}
	code := st.SelectElement("Code")
	if code == nil || st.SelectElement("Description") == nil || strings.TrimSpace(st.SelectElement("Description").Text()) == "" {
		return fmt.Errorf("Status without Code and Description (the toolkit crashes)")
	}
	n, err := strconv.Atoi(code.Text())
	if err != nil {
		return fmt.Errorf("Status Code %q is not a number", code.Text())
	}
	ok := n > 199 && n < 300
	switch c.Tag {
	case "ReauthorizationResponse", "ReauthorisationResponse":
		if ok {
			return fmt.Errorf("successful ReauthorizationResponse (the stock toolkit crashes on it)")
		}
		if x := c.SelectElement(ElemReauthUnsupported); x == nil || x.SelectAttr("critical") != nil {
			return fmt.Errorf("ReauthorizationResponse the toolkit can parse (it crashes on any: carry a critical <%s>)", ElemReauthUnsupported)
		}
	case "UsageConfirmation", "CapabilitiesConfirmation":
		// The toolkit accepts any code here; 2xx confirms.
	case "AuthorizationResponse", "AuthorisationResponse":
		if c.SelectElement("TransactionId") == nil {
			return fmt.Errorf("no TransactionId")
		}
		dests := c.SelectElements("Destination")
		if !ok && len(dests) > 0 {
			return fmt.Errorf("refusal (status %d) with destinations", n)
		}
		for i, d := range dests {
			if err := checkDestination(d); err != nil {
				return fmt.Errorf("destination %d: %w", i+1, err)
			}
		}
	}
	return nil
}

func checkDestination(d *etree.Element) error {
	if a := d.SelectElement("DestinationSignalAddress"); a == nil || a.Text() == "" {
		return fmt.Errorf("no DestinationSignalAddress")
	}
	for _, name := range []string{"Token", "CallId"} {
		e := d.SelectElement(name)
		if e == nil {
			return fmt.Errorf("no %s", name)
		}
		if e.SelectAttrValue("encoding", "") != "base64" {
			return fmt.Errorf("%s without encoding=\"base64\"", name)
		}
		if v, err := base64.StdEncoding.DecodeString(e.Text()); err != nil || len(v) == 0 {
			return fmt.Errorf("%s is not non-empty base64", name)
		}
	}
	if u := d.SelectElement("UsageDetail"); u != nil {
		for _, name := range []string{"Amount", "Increment"} {
			if x := u.SelectElement(name); x != nil {
				if _, err := strconv.ParseUint(x.Text(), 10, 31); err != nil {
					return fmt.Errorf("time limit %s %q is not a whole number", name, x.Text())
				}
			}
		}
	}
	if p := d.SelectElement("SignalingProtocol"); p != nil && p.SelectAttrValue("type", "") != TypeDestination {
		return fmt.Errorf("SignalingProtocol without type=\"destination\"")
	}
	return nil
}
