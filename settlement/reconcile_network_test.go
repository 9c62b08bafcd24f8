package settlement

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestReconcileAcrossNetworks: two networks' exports of the same calls
// pair on the id each knows for the other's call, never on equal ids
// (every network numbers its own), and fall back to Call-ID only with
// connect times within the skew.
func TestReconcileAcrossNetworks(t *testing.T) {
	call := func(net, tx, peer, callID string, at time.Time, secs int64) CDR {
		return CDR{Network: net, TransactionID: tx, PeerTransactionID: peer, CallID: callID, Calling: "1555", Called: "4930",
			ConnectTime: at, DurationMillis: secs * 1000, BillableSeconds: secs, HasBillable: true}
	}
	cases := []struct {
		name   string
		ours   []CDR
		theirs []CDR
		want   map[Class]int
		key    MatchKey
	}{
		{
			name:   "upstream: our peer id is their id",
			ours:   []CDR{call("purple", "100", "900", "c1", jan1, 60)},
			theirs: []CDR{call("hub", "900", "", "c1", jan1, 60)},
			want:   map[Class]int{ClassExact: 1}, key: KeyPeerTransactionID,
		},
		{
			name:   "downstream: their peer id is our id",
			ours:   []CDR{call("hub", "900", "", "c1", jan1, 60)},
			theirs: []CDR{call("purple", "100", "900", "c1", jan1, 60)},
			want:   map[Class]int{ClassExact: 1}, key: KeyPeerTransactionID,
		},
		{
			// Both networks issued id 100 to different calls: equal ids
			// across networks are not a match, and the Call-IDs differ.
			name:   "colliding ids of two networks",
			ours:   []CDR{call("purple", "100", "", "c1", jan1, 60)},
			theirs: []CDR{call("green", "100", "", "c9", jan1.Add(time.Hour), 60)},
			want:   map[Class]int{ClassOursOnly: 1, ClassTheirsOnly: 1},
		},
		{
			// Their export names another of our calls: the ids say they
			// are two calls, so the shared Call-ID does not pair them.
			name:   "peer id points elsewhere",
			ours:   []CDR{call("purple", "100", "900", "c1", jan1, 60)},
			theirs: []CDR{call("hub", "901", "", "c1", jan1, 60)},
			want:   map[Class]int{ClassOursOnly: 1, ClassTheirsOnly: 1},
		},
		{
			name:   "no ids known: Call-ID and start time",
			ours:   []CDR{call("purple", "100", "", "c1", jan1, 60)},
			theirs: []CDR{call("hub", "900", "", "c1", jan1.Add(time.Second), 60)},
			want:   map[Class]int{ClassExact: 1}, key: KeyCallID,
		},
		{
			// A proxy reusing a Call-ID an hour later is another call.
			name:   "Call-ID reused outside the skew",
			ours:   []CDR{call("purple", "100", "", "c1", jan1, 60)},
			theirs: []CDR{call("hub", "900", "", "c1", jan1.Add(time.Hour), 60)},
			want:   map[Class]int{ClassOursOnly: 1, ClassTheirsOnly: 1},
		},
		{
			name:   "altered duration is reported",
			ours:   []CDR{call("purple", "100", "900", "c1", jan1, 60)},
			theirs: []CDR{call("hub", "900", "", "c1", jan1, 90)},
			want:   map[Class]int{ClassMismatch: 1}, key: KeyPeerTransactionID,
		},
		{
			// A peer whose file does not name its network: its id for
			// the call is still the one we know it by.
			name:   "peer file without a network column",
			ours:   []CDR{call("purple", "100", "900", "c1", jan1, 60)},
			theirs: []CDR{call("", "900", "", "c1", jan1, 60)},
			want:   map[Class]int{ClassExact: 1}, key: KeyPeerTransactionID,
		},
		{
			// One network's own lines: a peer id is never its own id.
			name:   "peer id within one network",
			ours:   []CDR{call("purple", "100", "900", "c1", jan1, 60)},
			theirs: []CDR{call("purple", "900", "", "c2", jan1.Add(time.Hour), 60)},
			want:   map[Class]int{ClassOursOnly: 1, ClassTheirsOnly: 1},
		},
		{
			// A member's own CDRs carry the ids we gave its proxies.
			name:   "one numbering: equal ids",
			ours:   []CDR{call("purple", "100", "", "c1", jan1, 60)},
			theirs: []CDR{call("", "100", "", "c1", jan1, 60)},
			want:   map[Class]int{ClassExact: 1}, key: KeyTransactionID,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Reconcile(tc.ours, tc.theirs, ReconcileOptions{Tolerance: -1})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range Classes {
				if got := rep.Summary(c).Count; got != tc.want[c] {
					t.Errorf("%s: %d, want %d (%+v)", c, got, tc.want[c], rep.Classes)
				}
			}
			if tc.key != "" && (len(rep.Matches) != 1 || rep.Matches[0].Key != tc.key) {
				t.Errorf("matched by %+v, want %s", rep.Matches, tc.key)
			}
		})
	}
}

// TestCDRNetworkColumnsRoundTrip: the network and peer id columns survive
// WriteCDRs → ReadCDRs, and a file without them reads as before.
func TestCDRNetworkColumnsRoundTrip(t *testing.T) {
	in := []CDR{{Network: "purple", TransactionID: "72057594037993472", PeerTransactionID: "144115188075921408",
		CallID: "c1", Called: "4930", ConnectTime: jan1, DurationMillis: 1000}}
	var buf bytes.Buffer
	if err := WriteCDRs(&buf, in); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(buf.String(), "\n")
	if !strings.HasSuffix(header, ",network,peer_transaction_id") {
		t.Fatalf("header %q", header)
	}
	out, err := ReadCDRs(&buf, CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Network != "purple" || out[0].PeerTransactionID != in[0].PeerTransactionID || out[0].TransactionID != in[0].TransactionID {
		t.Fatalf("read back %+v", out[0])
	}
}

// TestReconcileInternalDurationsOnly: the internal report compares the
// durations the two sides reported, lists a transaction's side once
// (an export gives a forwarded call's source report two lines) and says
// the amounts are not compared instead of "amount 0 (0 rated)".
func TestReconcileInternalDurationsOnly(t *testing.T) {
	amt := func(v string) moneyAmount { a, _ := newAmount(v, "USD"); return a }
	src := CDR{TransactionID: "t1", Called: "49", ConnectTime: jan1, DurationMillis: 61000, Role: RoleSource,
		BillableSeconds: 120, HasBillable: true, Amount: amt("0.20"), Counterparty: "member:a"}
	srcBuy := src
	srcBuy.Counterparty, srcBuy.BillableSeconds, srcBuy.Amount = "peer:hub", 61, amt("0.061")
	dst := CDR{TransactionID: "t1", Called: "49", ConnectTime: jan1, DurationMillis: 61000, Role: RoleDestination,
		BillableSeconds: 61, HasBillable: true, Amount: amt("0.05")}
	rep, err := ReconcileInternal([]CDR{src, srcBuy, dst}, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary(ClassExact).Count != 1 || rep.Ours.Calls != 1 || rep.Decision.Disputed() || !rep.DurationsOnly {
		t.Fatalf("report %+v %+v", rep.Classes, rep.Decision)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out, 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "(0 rated)") || !strings.Contains(out.String(), "amounts not compared") {
		t.Fatalf("text:\n%s", out.String())
	}
}
