package osp

import (
	"errors"
	"strings"
	"testing"
)

const minimalReq = `<?xml version="1.0"?><Message messageId="1" random="2"><AuthorizationRequest componentId="3"><SourceInfo type="e164">
111</SourceInfo>%s</AuthorizationRequest></Message>`

func TestDecodeRefusals(t *testing.T) {
	deep := strings.Repeat("<Statistics critical=\"false\">", 30) + strings.Repeat("</Statistics>", 30)
	many := strings.Repeat(`<SdpFingerprint>x</SdpFingerprint>`, 300)
	tests := []struct {
		name  string
		doc   string
		lim   Limits
		cause error
		code  int
	}{
		{"not xml", "hello", Limits{}, ErrMalformed, StatusParseFailed},
		{"empty", "", Limits{}, ErrMalformed, StatusParseFailed},
		{"unclosed", `<Message><AuthorizationRequest componentId="1">`, Limits{}, ErrMalformed, StatusParseFailed},
		{"two roots", `<Message messageId="1"><UsageConfirmation componentId="1"/></Message><Message messageId="2"><UsageConfirmation componentId="2"/></Message>`, Limits{}, ErrMalformed, StatusParseFailed},
		{"text after root", `<Message messageId="1"><UsageConfirmation componentId="1"/></Message>trailing`, Limits{}, ErrMalformed, StatusParseFailed},
		{"text before root", `junk<Message messageId="1"><UsageConfirmation componentId="1"/></Message>`, Limits{}, ErrMalformed, StatusParseFailed},
		{"latin-1 8-bit", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Message messageId=\"1\"><UsageConfirmation componentId=\"1\"><Status><Code>200</Code><Description>caf\xe9</Description></Status></UsageConfirmation></Message>", Limits{}, ErrMalformed, StatusCharEncodingUnsupported},
		{"wrong root", `<Msg><AuthorizationRequest componentId="1"/></Msg>`, Limits{}, ErrMalformed, StatusBadRequest},
		{"no component", `<Message messageId="1"></Message>`, Limits{}, ErrMalformed, StatusBadRequest},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x "y">]><Message/>`, Limits{}, ErrForbiddenMarkup, StatusBadRequest},
		{"entity ref", strings.Replace(minimalReq, "%s", "<UserAgent>&x;</UserAgent>", 1), Limits{}, ErrMalformed, StatusParseFailed},
		{"processing instruction", `<Message><?php x ?></Message>`, Limits{}, ErrForbiddenMarkup, StatusBadRequest},
		{"unknown critical", strings.Replace(minimalReq, "%s", "<Frobnicate>1</Frobnicate>", 1), Limits{}, ErrUnknownCritical, StatusUnsupportedCriticalElement},
		{"unknown critical true", strings.Replace(minimalReq, "%s", `<Frobnicate critical="true">1</Frobnicate>`, 1), Limits{}, ErrUnknownCritical, StatusUnsupportedCriticalElement},
		{"unknown component", `<Message><FrobRequest componentId="1"/></Message>`, Limits{}, ErrUnknownCritical, StatusUnsupportedCriticalElement},
		{"namespaced", strings.Replace(minimalReq, "%s", `<x:UserAgent>1</x:UserAgent>`, 1), Limits{}, ErrUnknownCritical, StatusUnsupportedCriticalElement},
		{"bad base64", strings.Replace(minimalReq, "%s", `<CallId encoding="base64">!!!</CallId>`, 1), Limits{}, ErrMalformed, StatusBadRequest},
		{"bad encoding", strings.Replace(minimalReq, "%s", `<CallId encoding="rot13">abc</CallId>`, 1), Limits{}, ErrMalformed, StatusBadRequest},
		{"bad timestamp", strings.Replace(minimalReq, "%s", `<Timestamp>yesterday</Timestamp>`, 1), Limits{}, ErrMalformed, StatusBadRequest},
		{"bad number", strings.Replace(minimalReq, "%s", `<MaximumDestinations>many</MaximumDestinations>`, 1), Limits{}, ErrMalformed, StatusBadRequest},
		{"element in leaf", strings.Replace(minimalReq, "%s", `<UserAgent><b>x</b></UserAgent>`, 1), Limits{}, ErrMalformed, StatusBadRequest},
		{"bad amount", `<Message><UsageIndication componentId="1"><UsageDetail><Amount>1e9</Amount></UsageDetail></UsageIndication></Message>`, Limits{}, ErrMalformed, StatusBadRequest},
		{"too big", strings.Replace(minimalReq, "%s", strings.Repeat(" ", 2000), 1), Limits{MaxBodyBytes: 1000}, ErrLimit, StatusBadRequest},
		{"too deep", strings.Replace(minimalReq, "%s", deep, 1), Limits{}, ErrLimit, StatusBadRequest},
		{"too many elements", strings.Replace(minimalReq, "%s", many, 1), Limits{MaxElements: 100}, ErrLimit, StatusBadRequest},
		{"long attribute", strings.Replace(minimalReq, "%s", `<SourceInfo type="`+strings.Repeat("a", 300)+`">1</SourceInfo>`, 1), Limits{}, ErrLimit, StatusBadRequest},
		{"unterminated attribute", `<Message a="` + strings.Repeat("a", 300), Limits{}, ErrLimit, StatusBadRequest},
		{"too many components", `<Message>` + strings.Repeat(`<UsageConfirmation componentId="1"/>`, 3) + `</Message>`, Limits{MaxComponents: 2}, ErrLimit, StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.doc), tt.lim)
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("want *Error, got %v (message %+v)", err, m)
			}
			if !errors.Is(err, tt.cause) || oe.Code != tt.code {
				t.Fatalf("got %v (code %d), want cause %v code %d", err, oe.Code, tt.cause, tt.code)
			}
			if ErrorStatus(err) != tt.code {
				t.Fatalf("ErrorStatus = %d", ErrorStatus(err))
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(*Message) bool
	}{
		{"non-critical unknown ignored",
			strings.Replace(minimalReq, "%s", `<Frobnicate critical="false"><Deeper>1</Deeper></Frobnicate><Zap critical="False">2</Zap>`, 1),
			func(m *Message) bool { return m.Components[0].AuthorizationRequest.Calling() == "111" }},
		{"latin-1 declared, ascii only, comment after the root",
			strings.Replace(strings.Replace(minimalReq, "%s", "", 1), `<?xml version="1.0"?>`, `<?xml version='1.0' encoding='ISO-8859-1'?>`, 1) + "\n<!-- end -->\n",
			func(m *Message) bool { return m.Components[0].AuthorizationRequest.Calling() == "111" }},
		{"s spelling",
			`<Message messageId="9"><AuthorisationRequest componentId="1"><DestinationInfo type="e164">22</DestinationInfo></AuthorisationRequest><AuthorisationResponse componentId="2"><Status><Code>404</Code><Description>no</Description></Status></AuthorisationResponse></Message>`,
			func(m *Message) bool {
				return m.Components[0].Kind() == KindAuthorizationRequest && m.Components[0].AuthorizationRequest.Called() == "22" &&
					m.Components[1].AuthorizationResponse.Status.Code == StatusNoRoute
			}},
		{"cdata and comments",
			strings.Replace(minimalReq, "%s", `<!-- hi --><CallId encoding="cdata"><![CDATA[ab<c]]></CallId><UserAgent>
  x y  </UserAgent>`, 1),
			func(m *Message) bool {
				r := m.Components[0].AuthorizationRequest
				return string(r.CallIDs[0]) == "ab<c" && r.UserAgent == "x y"
			}},
		{"base64 with line breaks",
			strings.Replace(minimalReq, "%s", "<CallId encoding=\"base64\">\nYWJj\nZGVm\n</CallId>", 1),
			func(m *Message) bool { return string(m.Components[0].AuthorizationRequest.CallIDs[0]) == "abcdef" }},
		{"extensions",
			strings.Replace(minimalReq, "%s", `<OspnodeVia critical="false">PURPLE</OspnodeVia><OspnodeVia critical="false">HUB</OspnodeVia><OspnodeHopLimit critical="false">3</OspnodeHopLimit>`, 1),
			func(m *Message) bool {
				r := m.Components[0].AuthorizationRequest
				return len(r.Via) == 2 && r.Via[1] == "HUB" && r.HopLimit == 3
			}},
		{"rfc3339 offset timestamp",
			strings.Replace(minimalReq, "%s", `<Timestamp>2026-11-26T12:00:00.5+02:00</Timestamp>`, 1),
			func(m *Message) bool {
				ts := m.Components[0].AuthorizationRequest.Timestamp
				return ts.Hour() == 10 && ts.Location().String() == "UTC"
			}},
		{"older DestinationProtocol",
			`<Message><AuthorizationResponse componentId="1"><Timestamp>2026-11-26T12:00:00Z</Timestamp><Status><Code>200</Code><Description>ok</Description></Status><TransactionId>5</TransactionId><Destination><DestinationProtocol>sip</DestinationProtocol><DestinationSignalAddress>a</DestinationSignalAddress><DestinationAlternate type="network">N1</DestinationAlternate></Destination></AuthorizationResponse></Message>`,
			func(m *Message) bool {
				d := m.Components[0].AuthorizationResponse.Destinations[0]
				return d.Protocol == "sip" && d.NetworkID == "N1"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.doc), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(m) {
				t.Fatalf("unexpected decoding %+v", m.Components[0])
			}
		})
	}
}

// TestPrescanAgreesWithParser: the pre-scan counts what the parser sees,
// so a document exactly at the limits passes and one element more fails.
func TestPrescanLimitsExact(t *testing.T) {
	doc := []byte(`<?xml version="1.0"?><Message><UsageConfirmation componentId="1"><Timestamp>2026-11-26T12:00:00Z</Timestamp><Status><Code>200</Code><Description>a&gt;b</Description></Status></UsageConfirmation></Message>`)
	// 6 elements, depth 4.
	if _, err := Decode(doc, Limits{MaxElements: 6, MaxDepth: 4}); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	if _, err := Decode(doc, Limits{MaxElements: 5}); !errors.Is(err, ErrLimit) {
		t.Fatalf("one element over: %v", err)
	}
	if _, err := Decode(doc, Limits{MaxDepth: 3}); !errors.Is(err, ErrLimit) {
		t.Fatalf("one level too deep: %v", err)
	}
}
