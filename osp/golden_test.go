package osp

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestCaptureGolden decodes every capture and compares the decoded message,
// as JSON, with its golden file. Run with -update to rewrite them.
func TestCaptureGolden(t *testing.T) {
	for _, name := range captureNames(t) {
		t.Run(name, func(t *testing.T) {
			c := loadCapture(t, name)
			m, err := DecodeBody(c.contentType, c.body, Limits{})
			if !isOSP(name) {
				var oe *Error
				if err == nil || !errors.As(err, &oe) || oe.Code < 400 {
					t.Fatalf("enrollment capture: want a typed refusal, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".http")+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCaptureGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s:\n%s", name, path, got)
			}
			// The JSON form is itself reversible.
			var back Message
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("json round trip: %v", err)
			}
			if !reflect.DeepEqual(&back, m) {
				t.Errorf("json round trip differs")
			}
		})
	}
}

// TestCaptureReencode: every decoded capture encodes, and decodes back to
// the same message; every accepted response (and our re-encoding of it)
// passes the toolkit rules checker.
func TestCaptureReencode(t *testing.T) {
	for _, name := range captureNames(t) {
		if !isOSP(name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			c := loadCapture(t, name)
			m, err := DecodeBody(c.contentType, c.body, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(name, "accepted") {
				xml := c.body
				if strings.HasPrefix(c.contentType, "multipart/signed") {
					xml, _, err = SplitSigned(c.contentType, c.body)
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := CheckToolkitRules(xml); err != nil {
					t.Errorf("captured response breaks a rule: %v", err)
				}
			}
			enc, err := Encode(m)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if err := CheckToolkitRules(enc); err != nil {
				t.Errorf("our encoding breaks a rule: %v\n%s", err, enc)
			}
			back, err := Decode(enc, Limits{})
			if err != nil {
				t.Fatalf("decode of our encoding: %v\n%s", err, enc)
			}
			if !reflect.DeepEqual(back, m) {
				a, _ := json.MarshalIndent(m, "", " ")
				b, _ := json.MarshalIndent(back, "", " ")
				t.Errorf("re-encoding changed the message:\n%s\nvs\n%s", a, b)
			}
		})
	}
}

func decodeCapture(t *testing.T, name string) *Message {
	t.Helper()
	c := loadCapture(t, name)
	m, err := DecodeBody(c.contentType, c.body, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestCapture01AuthorizationRequest(t *testing.T) {
	m := decodeCapture(t, "01-AuthorizationRequest.minimal.http")
	if m.MessageID != "14592170741" || m.Random != "1459217074" || len(m.Components) != 1 {
		t.Fatalf("envelope: %+v", m)
	}
	c := m.Components[0]
	if c.ID != "14592170740" || c.Kind() != KindAuthorizationRequest {
		t.Fatalf("component %q kind %v", c.ID, c.Kind())
	}
	r := c.AuthorizationRequest
	if got := r.Calling(); got != "14048724799" {
		t.Errorf("calling %q", got)
	}
	if got := r.Called(); got != "1678" {
		t.Errorf("called %q", got)
	}
	if len(r.CallIDs) != 8 {
		t.Fatalf("%d call ids", len(r.CallIDs))
	}
	for i, id := range r.CallIDs {
		if string(id) != string(rune('1'+i)) {
			t.Errorf("call id %d = %q", i, id)
		}
	}
	if r.MaximumDestinations != 8 {
		t.Errorf("max destinations %d", r.MaximumDestinations)
	}
	if got := r.SourceDevice(); got != "[10.0.0.2]:5060" {
		t.Errorf("source device %q", got)
	}
	if !r.Timestamp.Equal(mustTime("2026-11-26T10:36:35Z")) {
		t.Errorf("timestamp %v", r.Timestamp)
	}
	if r.SourceAlternate.Get("subscriber") != "919404556#4444" || r.SourceAlternate.Get(TypeTransport) != "[10.0.0.1]" {
		t.Errorf("source alternates %+v", r.SourceAlternate)
	}
	if r.CustomerID != "1000" || r.DeviceID != "1000" || r.Service == nil {
		t.Errorf("customer %q device %q service %v", r.CustomerID, r.DeviceID, r.Service)
	}
}

func TestCapture06FullAuthorizationRequest(t *testing.T) {
	r := decodeCapture(t, "06-AuthorizationRequest.full-999.http").Components[0].AuthorizationRequest
	checks := []struct{ name, got, want string }{
		{"network", r.SourceNetworkID(), "SrcNetworkId"},
		{"switch", r.SourceAlternate.Get("switchId"), "SrcSwitchId"},
		{"spid", r.DestinationInfo.Get("spid"), "spid"},
		{"mnc", r.DestinationInfo.Get("mnc"), "mnc"},
		{"realm", r.SourceRealm, "SourceRealm"},
		{"dst realm", r.DestinationRealm, "DestinationRealm"},
		{"contact", r.ContactSourceInfo.Get(TypeTransport), "3.4.5.6"},
		{"from display (trimmed)", r.FromSourceInfo.Get("displayname"), "Hello Gunter"},
		{"from sip (unescaped)", r.FromSourceInfo.Get("sip"), "<sip:1001@sip.transnexus.com>"},
		{"rpid", r.RemotePartyIdSourceInfo.Get("sip"), `"'Eric Smith' of AT&T" <sip:2001@att.com>;privacy=off;screen=no`},
		{"identity", r.IdentitySourceInfo.Get("sip"), "IdentityHeader,IdentityHeaderOther"},
		{"request uri", r.RequestDestinationInfo.Get("sip"), "sips:1002@transnexus.com"},
		{"to", r.ToDestinationInfo.Get("transport"), "transnexus.com"},
		{"diversion device", r.DiversionDeviceInfo.Get(TypeTransport), "DiversionDevInfo"},
		{"app", r.ApplicationID, "ApplicationId"},
		{"ua", r.UserAgent, "Cisco-SIPGateway/IOS-12.x"},
		{"audio", r.SourceAudioAddress, "[172.16.0.1]:6000"},
		{"video", r.SourceVideoAddress, "gateway.transnexus.com:6001"},
		{"jip", r.JIP, "404526"},
		{"provider", r.ServiceProviderID.Get(""), "srcproviderofservice"},
		{"calling user", r.CallingPartyInfo.UserGroup, "callingusergroup"},
		{"icid", r.ChargingVector.Get("icidvalue"), "PCVICID"},
		{"attestation", r.Attestation, "A"},
		{"origid", r.OriginationID, "1b541919-d4e1-42dc-bbc7-a13c06ad45c4"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q want %q", c.name, c.got, c.want)
		}
	}
	if len(r.CustomInfo) != 2 || r.CustomInfo[0] != (CustomInfo{1, "CustomInfo_first"}) || r.CustomInfo[1] != (CustomInfo{17, "true"}) {
		t.Errorf("custom info %+v", r.CustomInfo)
	}
	if len(r.SDPFingerprints) != 3 || r.SDPFingerprints[2] != "fingerprint3" {
		t.Errorf("fingerprints %v", r.SDPFingerprints)
	}
	if !r.SIPRequestDate.Equal(mustTime("2026-11-26T10:37:02Z")) {
		t.Errorf("sip request date %v", r.SIPRequestDate)
	}
	if len(r.AssertedIdSourceInfo) != 4 || len(r.ChargeInfoSourceInfo) != 3 || len(r.DestinationInfo) != 8 {
		t.Errorf("asserted %d charge %d destinfo %d", len(r.AssertedIdSourceInfo), len(r.ChargeInfoSourceInfo), len(r.DestinationInfo))
	}
}

func TestCapture07TwoUsageComponents(t *testing.T) {
	m := decodeCapture(t, "07-UsageIndication.full-999-two-components.http")
	if len(m.Components) != 2 {
		t.Fatalf("%d components", len(m.Components))
	}
	if m.Components[0].ID != "12345678901234567892" || m.Components[1].ID != "12345678901234567894" {
		t.Errorf("component ids %q %q", m.Components[0].ID, m.Components[1].ID)
	}
	a, b := m.Components[0].UsageIndication, m.Components[1].UsageIndication
	for _, u := range []*UsageIndication{a, b} {
		if u.Role != RoleSource || u.TransactionID != 1234567890123456789 || string(u.CallID) != "1" ||
			u.GroupID != "E4596A7B-2C27-11D9-816A-EA39F2B2CD06" || u.TotalSetupAttempts != 12 ||
			*u.RoleInfo != (RoleInfo{"stop1", "radius", "cisco"}) || u.CDRProxy.SubfolderName != "CDRProxySubfolder" ||
			u.NetworkTranslatedCalledNumber.Get(TypeE164) != "2345678901" || u.SystemID != "systemid" {
			t.Errorf("common usage fields wrong: %+v", u)
		}
	}
	// The failed attempt.
	if d := a.UsageDetail; len(d.TerminationCause) != 1 || d.TerminationCause[0] != (TerminationCause{Type: "q850", Code: 41}) ||
		d.PostDialDelay.Get("destination") != "3.010" || d.Amount != "" || d.DestinationAudioAddress != "[172.16.0.1]:6002" ||
		d.SignalingProtocol.Get("na") != "iax" {
		t.Errorf("failed attempt usage detail %+v", d)
	}
	if a.SourceAlternate.Get("egress") != "[192.168.0.1]:5070" || a.ServiceProviderID.Get(TypeDestination) != "dstproviderofservice" {
		t.Errorf("first component alternates %+v / %+v", a.SourceAlternate, a.ServiceProviderID)
	}
	// The completed call.
	d := b.UsageDetail
	if d.Amount != "30.000" || d.Increment != 1 || d.Unit != "s" || d.ReleaseSource != "source" ||
		!d.StartTime.Equal(mustTime("2026-11-26T10:37:02Z")) || !d.EndTime.Equal(mustTime("2026-11-26T10:37:40Z")) ||
		!d.AlertTime.Equal(mustTime("2026-11-26T10:37:05Z")) || !d.ConnectTime.Equal(mustTime("2026-11-26T10:37:16Z")) {
		t.Errorf("completed call usage detail %+v", d)
	}
	if len(d.TerminationCause) != 4 || d.TerminationCause[3] != (TerminationCause{"xmpp", 4, "tc_xmpp"}) {
		t.Errorf("termination causes %+v", d.TerminationCause)
	}
	if len(d.Codec) != 4 || d.Codec[2] != (Codec{"video", "source", "ulaw"}) {
		t.Errorf("codecs %+v", d.Codec)
	}
	if len(d.SessionID) != 5 || string(d.SessionID[1].Value) != "destinationcallid" || d.SessionID[1].Type != "destination" {
		t.Errorf("session ids %+v", d.SessionID)
	}
	if d.PostDialDelay.Get("source") != "1.010" || d.PostDialDelay.Get("destination") != "4.010" {
		t.Errorf("post dial delay %+v", d.PostDialDelay)
	}
	s := d.Statistics
	if s == nil || *s.LossSent != (Loss{Packets: "1", Fraction: "2"}) || *s.LossReceived != (Loss{Packets: "100", Fraction: "10"}) {
		t.Fatalf("loss %+v", s)
	}
	if len(s.Metrics) != 4 || s.Metrics[1].Service != "voice" || s.Metrics[1].Type != "rtcp" {
		t.Fatalf("metrics %+v", s.Metrics)
	}
	m0 := s.Metrics[0]
	if len(m0.Lost) != 2 || m0.Lost[1] != (Loss{Direction: "destination-to-reporter", Packets: "3"}) ||
		m0.Jitter[0] != (Dispersion{Direction: "source-to-reporter", Samples: "1", Minimum: "2", Maximum: "3", Mean: "4", Variance: "5.000"}) ||
		m0.RoundTripDelay[1].Type != "destination" || m0.TotalPackets[1] != (DirectedValue{"destination-to-reporter", "2"}) {
		t.Errorf("voice rtp metrics %+v", m0)
	}
	if len(s.RFactor) != 3 || s.ICPIF[1] != (DirectedValue{"destination-to-reporter", "54"}) || s.MOSLQ[2].Value != "3.300" {
		t.Errorf("quality %+v %+v %+v", s.RFactor, s.ICPIF, s.MOSLQ)
	}
	if b.CalledPartyInfo.UserName != "calledusername" || b.TransferStatus != "destinationtransferfrom" || b.SetupAttempt != 2 ||
		b.CallType != "calltype" || b.NetworkType != "networktype" || b.DestinationAlternate.Get("deviceId") != "2" {
		t.Errorf("second component extras %+v", b.CallInfo)
	}
}

func TestCaptureResponsesAndOthers(t *testing.T) {
	r := decodeCapture(t, "02-AuthorizationResponse.accepted-by-toolkit.http").Components[0].AuthorizationResponse
	if r.Status != (Status{200, "success"}) || r.TransactionID != 1234567890123456789 || len(r.Destinations) != 2 {
		t.Fatalf("response %+v", r)
	}
	d := r.Destinations[1]
	if d.SignalAddress != "[127.0.0.3]:5060" || d.Protocol != "sip" || d.OSPVersion != "True" || d.TranslatedCalled != "1678" ||
		string(d.CallID) != "1" || !bytes.HasPrefix(d.Token, []byte("V=1\n")) || d.TimeLimit() != 3600 ||
		!d.ValidUntil.Equal(mustTime("2026-11-26T10:46:35Z")) {
		t.Errorf("destination %+v", d)
	}
	signed := decodeCapture(t, "11-AuthorizationResponse.multipart-signed.accepted-by-toolkit.http").Components[0].AuthorizationResponse
	if len(signed.Destinations) != 2 || signed.Status.Code != 200 {
		t.Errorf("multipart response %+v", signed)
	}
	der := decodeCapture(t, "14-AuthorizationResponse.signed-token.accepted-by-patched-test_app.http").Components[0].AuthorizationResponse
	if len(der.Destinations) != 2 || der.Destinations[0].Token[0] != 0x30 {
		t.Errorf("signed-token response: token does not start as DER")
	}
	ci := decodeCapture(t, "08-CapabilitiesIndication.http").Components[0].CapabilitiesIndication
	if ci.OSPVersion != "2.1.1" || ci.AlmostOutOfResources == nil || *ci.AlmostOutOfResources || ci.SourceAlternate.Get(TypeNetwork) != "SrcNetworkId" {
		t.Errorf("capabilities %+v", ci)
	}
	m := decodeCapture(t, "10-ReauthorizationRequest.http")
	rr := m.Components[0].ReauthorizationRequest
	if m.MessageID != "NULL" || m.Components[0].ID != "NULL" || rr.TransactionID != 1234567890123456789 ||
		rr.UsageDetail.Amount != "0.010" || !bytes.HasPrefix(rr.Token, []byte("V=1\n")) || rr.Calling() != "14048724799" {
		t.Errorf("reauthorization %+v", rr)
	}
}
