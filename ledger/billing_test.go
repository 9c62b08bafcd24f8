package ledger

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func days(n int) *int { return &n }

// TestBillingIdentityValidation: the applier takes a billing identity
// within bounds on the network, a member and a peer, and refuses one out
// of them with a clear Invalid result naming the field.
func TestBillingIdentityValidation(t *testing.T) {
	long := strings.Repeat("x", MaxAddressLineBytes+1)
	for _, tc := range []struct {
		name string
		b    BillingIdentity
		msg  string // "" valid; else part of the Invalid message
	}{
		{"empty", BillingIdentity{}, ""},
		{"full", BillingIdentity{Address: []string{"Carrier A Ltd", "1 Quay Street", "Dublin D02 X285", "Ireland"},
			TaxID: "IE1234567T", BillingEmail: "billing@carrier-a.example", PaymentTermsDays: days(30)}, ""},
		{"six lines of 100 bytes", BillingIdentity{Address: []string{long[1:], long[1:], long[1:], long[1:], long[1:], long[1:]}}, ""},
		{"non-Latin script", BillingIdentity{Address: []string{"Ünïcödé GmbH", "東京都千代田区"}}, ""},
		{"terms zero: due on issue", BillingIdentity{PaymentTermsDays: days(0)}, ""},
		{"terms a leap year", BillingIdentity{PaymentTermsDays: days(366)}, ""},
		{"seven lines", BillingIdentity{Address: []string{"1", "2", "3", "4", "5", "6", "7"}}, "address: 7 lines, at most 6"},
		{"line too long", BillingIdentity{Address: []string{long}}, "address line 1: 101 bytes, at most 100"},
		{"empty line", BillingIdentity{Address: []string{"a", " "}}, "address line 2: empty"},
		{"newline in a line", BillingIdentity{Address: []string{"a\nforged line"}}, "address line 1: \"a\\nforged line\" holds a control character"},
		{"tab in a line", BillingIdentity{Address: []string{"a\tb"}}, "control character"},
		{"tax id control", BillingIdentity{TaxID: "IE\x00"}, "tax_id:"},
		{"tax id too long", BillingIdentity{TaxID: strings.Repeat("9", MaxTaxIDBytes+1)}, "tax_id: 65 bytes"},
		{"email without @", BillingIdentity{BillingEmail: "billing.example"}, "billing_email \"billing.example\""},
		{"email with a space", BillingIdentity{BillingEmail: "a b@example.net"}, "billing_email"},
		{"terms negative", BillingIdentity{PaymentTermsDays: days(-1)}, "payment_terms_days -1: want 0..366"},
		{"terms above a year", BillingIdentity{PaymentTermsDays: days(367)}, "payment_terms_days 367: want 0..366"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				kind string
				cmd  Command
			}{
				{"network", SetNetwork{Network{ID: "PURPLE", Currency: "USD", BillingIdentity: tc.b}}},
				{"member", PutMember{Member{ID: "a", BillingIdentity: tc.b}}},
				{"peer", PutPeer{Peer{ID: "p", BillingIdentity: tc.b}}},
			} {
				s := openTest(t)
				r := apply1(t, s, c.cmd)[0]
				if tc.msg == "" {
					if r.Code != OK {
						t.Fatalf("%s: %s %q, want OK", c.kind, r.Code, r.Message)
					}
					continue
				}
				if r.Code != Invalid || !strings.Contains(r.Message, tc.msg) || !strings.HasPrefix(r.Message, c.kind) {
					t.Fatalf("%s: %s %q, want Invalid starting %q and containing %q", c.kind, r.Code, r.Message, c.kind, tc.msg)
				}
			}
		})
	}
}

// TestBillingIdentityNotUTF8: the command's JSON already turns invalid
// UTF-8 into U+FFFD before the applier sees it (and so does the admin
// API's decoding); Problems, on a record built in Go, still names it.
func TestBillingIdentityNotUTF8(t *testing.T) {
	p := BillingIdentity{Address: []string{"caf\xe9"}}.Problems()
	if len(p) != 1 || p[0] != "address line 1: not valid UTF-8" {
		t.Fatalf("problems %q", p)
	}
}

// TestBillingIdentityJSON: the fields sit beside the record's own, and a
// record without them encodes as before (no new key), so existing logs
// and digests are unchanged.
func TestBillingIdentityJSON(t *testing.T) {
	b, err := json.Marshal(Member{ID: "a", Status: MemberActive})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"address", "tax_id", "billing_email", "payment_terms_days"} {
		if strings.Contains(string(b), k) {
			t.Fatalf("an empty billing identity encodes %s: %s", k, b)
		}
	}
	m := Member{ID: "a", BillingIdentity: BillingIdentity{Address: []string{"1 Quay St"}, TaxID: "IE1", BillingEmail: "b@x.example", PaymentTermsDays: days(0)}}
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `"address":["1 Quay St"],"tax_id":"IE1","billing_email":"b@x.example","payment_terms_days":0}`
	if !strings.HasSuffix(string(b), want) {
		t.Fatalf("encoded %s, want it to end %s", b, want)
	}
	var back Member
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip %+v (%v), want %+v", back, err, m)
	}
}

// TestPaymentTerms: a counterparty's own terms, else the network's.
func TestPaymentTerms(t *testing.T) {
	for _, tc := range []struct {
		name         string
		network, cp  *int
		wantDays     int
		wantHaveTerm bool
	}{
		{"none", nil, nil, 0, false},
		{"network default", days(30), nil, 30, true},
		{"counterparty override", days(30), days(14), 14, true},
		{"override to due on issue", days(30), days(0), 0, true},
		{"counterparty only", nil, days(45), 45, true},
	} {
		d, ok := PaymentTerms(BillingIdentity{PaymentTermsDays: tc.network}, BillingIdentity{PaymentTermsDays: tc.cp})
		if d != tc.wantDays || ok != tc.wantHaveTerm {
			t.Errorf("%s: %d %v, want %d %v", tc.name, d, ok, tc.wantDays, tc.wantHaveTerm)
		}
	}
}
