package ledger

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestCreateNetwork checks SetNetwork version 2 (CreateNetwork): written
// only into a ledger without a network; the same network again is a
// Duplicate, another one Rejected, and neither changes what is stored.
// Version 1 still replaces, as existing logs expect.
func TestCreateNetwork(t *testing.T) {
	purple := Network{ID: "PURPLE", Name: "Purple peering", Currency: "USD"}
	for _, tc := range []struct {
		name     string
		before   []Command
		cmd      Command
		code     ResultCode
		msg      string // part of the result message
		stored   Network
		noneLeft bool // no network stored afterwards
	}{
		{"creates into an empty ledger", nil, CreateNetwork{purple}, OK, "", purple, false},
		{"same network again", []Command{CreateNetwork{purple}}, CreateNetwork{purple}, Duplicate, "already exists", purple, false},
		{"same network, basis own spelled out", []Command{CreateNetwork{purple}},
			CreateNetwork{Network{ID: "PURPLE", Name: "Purple peering", Currency: "USD", BillingBasis: BasisOwn}}, Duplicate, "already exists", purple, false},
		{"another network", []Command{CreateNetwork{purple}}, CreateNetwork{Network{ID: "YELLOW", Currency: "EUR"}}, Rejected,
			`already initialised: PURPLE ("Purple peering", USD, txid epoch 0, billing basis own)`, purple, false},
		{"another currency, same id", []Command{SetNetwork{purple}}, CreateNetwork{Network{ID: "PURPLE", Name: "Purple peering", Currency: "EUR"}}, Rejected,
			"already initialised", purple, false},
		{"invalid before the existence check", nil, CreateNetwork{Network{ID: "X", Currency: "usd"}}, Invalid, "ISO 4217", Network{}, true},
		{"version 1 still replaces", []Command{CreateNetwork{purple}}, SetNetwork{Network{ID: "YELLOW", Currency: "EUR"}}, OK, "",
			Network{ID: "YELLOW", Currency: "EUR"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			if len(tc.before) > 0 {
				mustOK(t, apply1(t, s, tc.before...))
			}
			r := apply1(t, s, tc.cmd)[0]
			if r.Code != tc.code || !strings.Contains(r.Message, tc.msg) {
				t.Fatalf("result %s %q, want %s containing %q", r.Code, r.Message, tc.code, tc.msg)
			}
			got, err := s.Network()
			if tc.noneLeft {
				if err == nil {
					t.Fatalf("network %+v stored by an invalid command", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.stored) {
				t.Fatalf("stored %+v (%v), want %+v", got, err, tc.stored)
			}
		})
	}
}

// TestCreateNetworkEnvelope pins the envelope: CreateNetwork is written as
// SetNetwork version 2 and decodes back to a CreateNetwork; SetNetwork
// stays version 1 with the bytes it always had; a version 2 payload with
// an unknown field is refused like any configuration command's.
func TestCreateNetworkEnvelope(t *testing.T) {
	n := Network{ID: "purple", Currency: "USD"}
	b := enc(t, CreateNetwork{n})
	if b[0] != byte(TypeSetNetwork) || b[1] != SetNetworkVersionCreate {
		t.Fatalf("envelope % x", b[:2])
	}
	c, err := Decode(b)
	if cn, ok := c.(CreateNetwork); err != nil || !ok || !reflect.DeepEqual(cn.Network, n) {
		t.Fatalf("decoded %#v, %v", c, err)
	}
	v1 := enc(t, SetNetwork{n})
	if v1[1] != CommandVersion || !bytes.Equal(v1[2:], b[2:]) {
		t.Fatalf("SetNetwork v%d payload %s, CreateNetwork payload %s", v1[1], v1[2:], b[2:])
	}
	bad := append([]byte{byte(TypeSetNetwork), SetNetworkVersionCreate}, `{"network":{"id":"p","currency":"USD"},"replace":true}`...)
	if _, err := Decode(bad); err == nil {
		t.Fatal("unknown field accepted")
	}
	s := openTest(t)
	if r := applyLog(t, s, []batch{{1, [][]byte{bad}}})[0][0]; r.Code != Invalid {
		t.Fatalf("apply of a bad payload: %s %s", r.Code, r.Message)
	}
}
