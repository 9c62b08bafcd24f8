package osp

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 10, 36, 35, 999, time.FixedZone("X", 3600))

func okResponse() *Message {
	return &Message{MessageID: "14592170741", Random: "1", Components: []Component{{ID: "14592170740",
		AuthorizationResponse: &AuthorizationResponse{
			Timestamp: t0, Status: NewStatus(StatusOK), TransactionID: 42,
			Destinations: []Destination{{
				SignalAddress: "[192.0.2.7]:5060", Token: []byte("V=1\nc=1\n"), CallID: []byte("1"),
				ValidAfter: t0, ValidUntil: t0.Add(10 * time.Minute), UsageDetail: TimeLimit(3600),
				TranslatedCalled: "1678", Protocol: "sip", OSPVersion: "True", NetworkID: "YELLOW",
			}},
		}}}}
}

func TestEncodeAuthorizationResponseShape(t *testing.T) {
	b, err := Encode(okResponse())
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0"?><Message messageId="14592170741" random="1"><AuthorizationResponse componentId="14592170740">` +
		`<Timestamp>2026-11-26T09:36:35Z</Timestamp><Status><Code>200</Code><Description>success</Description></Status>` +
		`<TransactionId>42</TransactionId><Destination><SignalingProtocol type="destination">sip</SignalingProtocol>` +
		`<OSPVersion>True</OSPVersion><DestinationInfo type="e164">1678</DestinationInfo>` +
		`<DestinationSignalAddress>[192.0.2.7]:5060</DestinationSignalAddress><Token encoding="base64">Vj0xCmM9MQo=</Token>` +
		`<ValidAfter>2026-11-26T09:36:35Z</ValidAfter><ValidUntil>2026-11-26T09:46:35Z</ValidUntil>` +
		`<UsageDetail><Service/><Amount>3600</Amount><Increment>1</Increment><Unit>s</Unit></UsageDetail>` +
		`<CallId encoding="base64">MQ==</CallId><DestinationAlternate type="network">YELLOW</DestinationAlternate>` +
		`</Destination></AuthorizationResponse></Message>`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	if err := CheckToolkitRules(b); err != nil {
		t.Fatal(err)
	}
	// AppendEncode appends.
	b2, err := AppendEncode([]byte("X"), okResponse())
	if err != nil || !bytes.Equal(b2[1:], b) || b2[0] != 'X' {
		t.Fatalf("AppendEncode: %v", err)
	}
}

func TestEncodeRefusals(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Message)
	}{
		{"nil components", func(m *Message) { m.Components = nil }},
		{"two kinds", func(m *Message) { m.Components[0].UsageConfirmation = &UsageConfirmation{} }},
		{"no kind", func(m *Message) { m.Components[0].AuthorizationResponse = nil }},
		{"no timestamp", func(m *Message) { m.Components[0].AuthorizationResponse.Timestamp = time.Time{} }},
		{"no status code", func(m *Message) { m.Components[0].AuthorizationResponse.Status = Status{} }},
		{"txid too big", func(m *Message) { m.Components[0].AuthorizationResponse.TransactionID = math.MaxInt64 + 1 }},
		{"no signal address", func(m *Message) { m.Components[0].AuthorizationResponse.Destinations[0].SignalAddress = " " }},
		{"no token", func(m *Message) { m.Components[0].AuthorizationResponse.Destinations[0].Token = nil }},
		{"no call id", func(m *Message) { m.Components[0].AuthorizationResponse.Destinations[0].CallID = nil }},
		{"fractional time limit", func(m *Message) {
			m.Components[0].AuthorizationResponse.Destinations[0].UsageDetail.Amount = "1.5"
		}},
		{"unit minutes", func(m *Message) { m.Components[0].AuthorizationResponse.Destinations[0].UsageDetail.Unit = "m" }},
		{"refusal with destinations", func(m *Message) { m.Components[0].AuthorizationResponse.Status = NewStatus(StatusNoRoute) }},
		{"control character", func(m *Message) {
			m.Components[0].AuthorizationResponse.Destinations[0].TranslatedCalled = "16\x0078"
		}},
		{"control character in attribute", func(m *Message) { m.MessageID = "a\nb" }},
		{"successful reauthorization", func(m *Message) {
			m.Components[0] = Component{ID: "NULL", ReauthorizationResponse: &ReauthorizationResponse{Timestamp: t0, Status: NewStatus(StatusOK)}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := okResponse()
			tt.mutate(m)
			b, err := AppendEncode([]byte("keep"), m)
			var oe *Error
			if !errors.As(err, &oe) || !errors.Is(err, ErrEncode) {
				t.Fatalf("want an ErrEncode *Error, got %v", err)
			}
			if string(b) != "keep" {
				t.Fatalf("dst extended on error: %q", b)
			}
		})
	}
}

func TestEncodeReauthorizationRefusal(t *testing.T) {
	m := &Message{MessageID: "NULL", Components: []Component{{ID: "NULL", ReauthorizationResponse: &ReauthorizationResponse{
		Timestamp: t0, Status: NewStatus(StatusReauthorizationRefused)}}}}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckToolkitRules(b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<Code>501</Code><Description>not implemented</Description>") {
		t.Fatalf("refusal: %s", b)
	}
	// The stock toolkit crashes on any ReauthorizationResponse it parses:
	// ours carries a critical element it does not know, so it refuses the
	// answer while parsing (error 13308), at once.
	if !strings.Contains(string(b), "<"+ElemReauthUnsupported+">true</"+ElemReauthUnsupported+">") {
		t.Fatalf("no critical refusal element: %s", b)
	}
	without := strings.Replace(string(b), "<"+ElemReauthUnsupported+">true</"+ElemReauthUnsupported+">", "", 1)
	if err := CheckToolkitRules([]byte(without)); err == nil {
		t.Fatal("a ReauthorizationResponse the toolkit can parse passed the toolkit rules")
	}
	back, err := Decode(b, Limits{})
	if err != nil || back.Components[0].ReauthorizationResponse == nil || back.Components[0].ReauthorizationResponse.Status.Code != StatusReauthorizationRefused {
		t.Fatalf("our decoder: %+v %v", back, err)
	}
}

// TestCheckerCatches proves the rules checker can fail: each document
// breaks exactly one rule of OSP-WIRE.md.
func TestCheckerCatches(t *testing.T) {
	good, err := Encode(okResponse())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckToolkitRules(good); err != nil {
		t.Fatal(err)
	}
	s := string(good)
	tests := []struct{ name, old, new string }{
		{"whitespace in value", "<Code>200</Code>", "<Code>\n200</Code>"},
		{"no description", "<Description>success</Description>", ""},
		{"no status", "<Status><Code>200</Code><Description>success</Description></Status>", ""},
		{"no timestamp", "<Timestamp>2026-11-26T09:36:35Z</Timestamp>", ""},
		{"fractional timestamp", "<Timestamp>2026-11-26T09:36:35Z</Timestamp>", "<Timestamp>2026-11-26T09:36:35.5Z</Timestamp>"},
		{"offset timestamp", "<ValidAfter>2026-11-26T09:36:35Z</ValidAfter>", "<ValidAfter>2026-11-26T10:36:35+01:00</ValidAfter>"},
		{"txid too big", "<TransactionId>42</TransactionId>", "<TransactionId>9223372036854775808</TransactionId>"},
		{"no txid", "<TransactionId>42</TransactionId>", ""},
		{"unit", "<Unit>s</Unit>", "<Unit>sec</Unit>"},
		{"unknown critical", "<OSPVersion>True</OSPVersion>", "<OSPVersion>True</OSPVersion><Hops>2</Hops>"},
		{"token not base64", `<Token encoding="base64">`, `<Token>`},
		{"no call id", `<CallId encoding="base64">MQ==</CallId>`, ""},
		{"no signal address", "<DestinationSignalAddress>[192.0.2.7]:5060</DestinationSignalAddress>", ""},
		{"refusal with destination", "<Code>200</Code>", "<Code>404</Code>"},
		{"not wrapped", `<?xml version="1.0"?><Message messageId="14592170741" random="1">`, `<?xml version="1.0"?><Wrapper messageId="1">`},
		{"doctype", `<?xml version="1.0"?>`, `<?xml version="1.0"?><!DOCTYPE Message>`},
		{"successful reauthorization", "AuthorizationResponse", "ReauthorizationResponse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.ReplaceAll(s, tt.old, tt.new)
			if tt.name == "not wrapped" {
				bad = strings.Replace(bad, "</Message>", "</Wrapper>", 1)
			}
			if bad == s {
				t.Fatal("mutation did not apply")
			}
			if err := CheckToolkitRules([]byte(bad)); err == nil {
				t.Fatalf("checker accepted:\n%s", bad)
			}
		})
	}
}

func TestStatusHelpers(t *testing.T) {
	if NewStatus(StatusUnavailable).Description != "service unavailable" || NewStatus(299).Description != "success" ||
		NewStatus(777).Description != "failure" || !NewStatus(StatusOK).OK() || NewStatus(StatusNoRoute).OK() {
		t.Fatal("status helpers")
	}
	if StatusReauthorizationRefused < 300 {
		t.Fatal("reauthorisation must be refused")
	}
	if KindUsageIndication.String() != "UsageIndication" || Kind(99).String() != "Unknown" {
		t.Fatal("kind names")
	}
	c := Component{UsageConfirmation: &UsageConfirmation{Status: NewStatus(StatusOK)}}
	if st, ok := c.Status(); !ok || st.Code != 200 {
		t.Fatal("component status")
	}
	if _, ok := (&Component{UsageIndication: &UsageIndication{}}).Status(); ok {
		t.Fatal("indication has no status")
	}
}
