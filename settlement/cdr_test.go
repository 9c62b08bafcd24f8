package settlement

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadCDRsColumnMapAndUnits(t *testing.T) {
	in := "txn_id,Start,dst,src,ms,dir,cost,cur\n" +
		"T1,1796131200000,+4930123,+1212,30125,orig,0.175,usd\n" +
		"T2,1796131260000,4930124,,0,term,,\n"
	cols, err := ParseColumnMap("transaction_id=txn_id, connect_time=start,called=dst,calling=src,duration=ms,role=dir,amount=cost,currency=cur")
	if err != nil {
		t.Fatal(err)
	}
	cdrs, err := ReadCDRs(strings.NewReader(in), CDRFormat{Columns: cols, TimeLayout: "unixms", DurationUnit: "ms"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cdrs) != 2 {
		t.Fatalf("%d CDRs", len(cdrs))
	}
	c := cdrs[0]
	if c.TransactionID != "T1" || c.Called != "+4930123" || c.DurationMillis != 30125 || c.Role != RoleSource ||
		c.Amount.String() != "0.175 USD" || c.Line != 2 || !c.ConnectTime.Equal(time.UnixMilli(1796131200000)) {
		t.Fatalf("cdr = %+v", c)
	}
	if cdrs[1].Rated() || cdrs[1].Role != RoleDestination || cdrs[1].Billable() != 0 {
		t.Fatalf("cdr 2 = %+v", cdrs[1])
	}
}

func TestParseMillis(t *testing.T) {
	for in, want := range map[string]int64{"30": 30000, "30.000": 30000, "30.1": 30100, "30.125": 30125, ".5": 500, "0.0010000": 1, "1.2340": 1234} {
		if got, err := parseMillis(in, "s"); err != nil || got != want {
			t.Errorf("parseMillis(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.", "1.2345", "0.0005000", "1e3", "abc", "1,5"} {
		if _, err := parseMillis(in, "s"); !errors.Is(err, ErrBadInput) {
			t.Errorf("parseMillis(%q) err = %v", in, err)
		}
	}
}

func TestReadCDRsBadLinesNameLineAndField(t *testing.T) {
	in := "called,connect_time,duration,amount,billable_seconds,role\n" +
		"49,2026-11-01T00:00:00Z,30,0.1,30,source\n" +
		",2026-11-01T00:00:00Z,30,,,\n" +
		"49,yesterday,thirty,,,\n" +
		"49,2026-11-01 00:00:00,30,0.1x,-3,sideways\n"
	_, err := ReadCDRs(strings.NewReader(in), CDRFormat{Currency: "USD"})
	var ce *CDRError
	if !errors.As(err, &ce) || !errors.Is(err, ErrBadInput) {
		t.Fatalf("err = %v", err)
	}
	want := []struct {
		line  int
		field string
	}{{3, FieldCalled}, {4, FieldConnectTime}, {4, FieldDuration}, {5, FieldRole}, {5, FieldBillableSeconds}, {5, FieldAmount}}
	if len(ce.Errors) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(ce.Errors), len(want), err)
	}
	for i, w := range want {
		if ce.Errors[i].Line != w.line || ce.Errors[i].Field != w.field {
			t.Errorf("error %d: line %d field %s, want line %d field %s", i, ce.Errors[i].Line, ce.Errors[i].Field, w.line, w.field)
		}
	}
	// A mapped column is named by the carrier's column name.
	_, err = ReadCDRs(strings.NewReader("dst,t,d\n49,x,1\n"), CDRFormat{Columns: ColumnMap{Called: "dst", ConnectTime: "t", Duration: "d"}})
	if !errors.As(err, &ce) || ce.Errors[0].Field != "t" || ce.Errors[0].Line != 2 {
		t.Fatalf("mapped field name: %v", err)
	}
	if _, err := ReadCDRs(strings.NewReader("called,connect_time\n"), CDRFormat{}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("missing column: %v", err)
	}
	if _, err := ReadCDRs(strings.NewReader("called,connect_time,duration,amount\n"), CDRFormat{}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("amount without currency: %v", err)
	}
	if _, err := ParseColumnMap("colour=red"); !errors.Is(err, ErrBadInput) {
		t.Fatalf("unknown field: %v", err)
	}
	big := "called,connect_time,duration\n" + strings.Repeat("49,2026-11-01,1\n", 5)
	if _, err := ReadCDRs(strings.NewReader(big), CDRFormat{MaxRows: 4}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("max rows: %v", err)
	}
}

func TestWriteCDRsRoundTrip(t *testing.T) {
	in := []CDR{
		{TransactionID: "T1", CallID: "c1@x", Calling: "1212", Called: "4930", ConnectTime: jan1.Add(1500 * time.Millisecond),
			DurationMillis: 30125, Role: RoleSource, Counterparty: "acme", BillableSeconds: 36, HasBillable: true,
			Amount: usd("0.1750"), Prefix: "49", Description: "Germany, \"fixed\""},
		{Called: "44", ConnectTime: jan1, DurationMillis: 0},
	}
	var buf bytes.Buffer
	if err := WriteCDRs(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadCDRs(&buf, CDRFormat{})
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for i := range in {
		a, b := in[i], out[i]
		a.Line, b.Line = 0, 0
		if a.TransactionID != b.TransactionID || a.CallID != b.CallID || !a.ConnectTime.Equal(b.ConnectTime) ||
			a.DurationMillis != b.DurationMillis || a.Role != b.Role || a.HasBillable != b.HasBillable ||
			a.BillableSeconds != b.BillableSeconds || !a.Amount.Equal(b.Amount) || a.Description != b.Description {
			t.Errorf("round trip %d:\n in %+v\nout %+v", i, a, b)
		}
	}
}

func FuzzReadCDRs(f *testing.F) {
	f.Add("called,connect_time,duration,amount,currency,billable_seconds,role,transaction_id\n49,2026-11-01T00:00:00Z,30.5,0.1,USD,31,source,T\n")
	f.Add("called,connect_time,duration\n\"4\n9\",2026-11-01,1\n")
	f.Add("called,connect_time,duration\n49,2026-11-01,99999999999.999\n")
	f.Add("transaction_id,called,connect_time,duration,network,peer_transaction_id\n3566850904877506560,49,2026-11-01,1,PURPLE,864691128455221248\n")
	f.Fuzz(func(t *testing.T, in string) {
		cdrs, err := ReadCDRs(strings.NewReader(in), CDRFormat{Currency: "EUR", MaxRows: 50})
		if err != nil {
			if !errors.Is(err, ErrBadInput) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteCDRs(&buf, cdrs); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCDRs(&buf, CDRFormat{MaxRows: 50})
		if err != nil || len(back) != len(cdrs) {
			t.Fatalf("written CDRs do not read back: %v\n%s", err, buf.String())
		}
		for i := range cdrs {
			if back[i].DurationMillis != cdrs[i].DurationMillis || !back[i].Amount.Equal(cdrs[i].Amount) ||
				back[i].Network != cdrs[i].Network || back[i].PeerTransactionID != cdrs[i].PeerTransactionID {
				t.Fatalf("round trip %d: %+v vs %+v", i, cdrs[i], back[i])
			}
		}
	})
}
