package settlement

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

func TestReadDeckCSVColumnsByName(t *testing.T) {
	in := "Next_Increment , rate,PREFIX,first_increment,effective_from,country\n" +
		"6,0.05,+1,30,2026-01-01T00:00:00Z,US\n" +
		"\n" +
		"1,0.5,44,1,2026-01-01,UK\n"
	d, err := ReadDeckCSV(strings.NewReader(in), DeckOptions{Currency: "EUR", Decimals: 4, Counterparty: "acme", Direction: Buy})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Versions) != 1 || len(d.Versions[0].Rows) != 2 {
		t.Fatalf("versions = %+v", d.Versions)
	}
	r := d.Versions[0].Rows[0]
	if r.Prefix != "1" || r.Rate.String() != "0.05 EUR" || !r.ConnectFee.IsZero() || r.FirstIncrement != 30 || r.NextIncrement != 6 || r.Line != 2 {
		t.Fatalf("row = %+v", r)
	}
	if d.Versions[0].Rows[1].Line != 4 {
		t.Fatalf("line after a blank line = %d, want 4", d.Versions[0].Rows[1].Line)
	}
	if d.Rounding != money.HalfUp || d.DurationRounding != DurationUp || d.Direction != Buy {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestReadDeckCSVRejectsWholeDeckNamingLinesAndFields(t *testing.T) {
	in := `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from
49,Germany,0.10,0,60,60,2026-01-01
4x9,Bad prefix,0.10,0,60,60,2026-01-01
44,UK,-0.10,0,60,60,2026-01-01
33,France,0.1.0,abc,60,0,2026-13-01
49,Germany again,0.20,0,60,60,2026-01-01
34,Spain,1e3,0,60,60,2026-01-01
`
	_, err := ReadDeckCSV(strings.NewReader(in), DeckOptions{Currency: "USD", Decimals: 4})
	var de *DeckError
	if !errors.As(err, &de) || !errors.Is(err, ErrBadInput) {
		t.Fatalf("err = %v, want *DeckError wrapping ErrBadInput", err)
	}
	want := []struct {
		line  int
		field string
	}{{3, ColPrefix}, {4, ColRate}, {5, ColRate}, {5, ColConnectFee}, {5, ColNextIncrement}, {5, ColEffectiveFrom}, {6, ColPrefix}, {7, ColRate}}
	if len(de.Errors) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(de.Errors), len(want), err)
	}
	for i, w := range want {
		if de.Errors[i].Line != w.line || de.Errors[i].Field != w.field {
			t.Errorf("error %d = line %d field %s, want line %d field %s", i, de.Errors[i].Line, de.Errors[i].Field, w.line, w.field)
		}
	}
	msg := err.Error()
	for _, s := range []string{"line 3, field prefix", "line 6, field prefix", "already defined on line 2", "line 5, field effective_from"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
}

func TestReadDeckCSVBoundsAndHeader(t *testing.T) {
	hdr := "prefix,rate,first_increment,next_increment,effective_from\n"
	many := hdr + strings.Repeat("1,0.1,1,1,2026-01-01\n", 3)
	_, err := ReadDeckCSV(strings.NewReader(many), DeckOptions{Currency: "USD", MaxRows: 2})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("max rows: err = %v", err)
	}
	long := hdr + "1,0.1,1,1,2026-01-01," + strings.Repeat("x", 5000) + "\n"
	_, err = ReadDeckCSV(strings.NewReader(long), DeckOptions{Currency: "USD"})
	var de *DeckError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &de) || de.Errors[0].Line != 2 {
		t.Fatalf("long line: err = %v", err)
	}
	_, err = ReadDeckCSV(strings.NewReader("prefix,rate\n1,0.1\n"), DeckOptions{Currency: "USD"})
	if !errors.As(err, &de) || de.Errors[0].Line != 1 || !strings.Contains(err.Error(), "first_increment") {
		t.Fatalf("missing columns: err = %v", err)
	}
	for _, o := range []DeckOptions{{Currency: "usd"}, {Currency: "USD", Decimals: 13}, {Currency: "USD", Rounding: "nearest"},
		{Currency: "USD", DurationRounding: "sideways"}, {Currency: "USD", Direction: "both"}} {
		if _, err := ReadDeckCSV(strings.NewReader(many), o); !errors.Is(err, ErrBadInput) {
			t.Errorf("options %+v: err = %v", o, err)
		}
	}
	if _, err := ReadDeckCSV(strings.NewReader(""), DeckOptions{Currency: "USD"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("empty file: err = %v", err)
	}
	if _, err := ReadDeckCSV(strings.NewReader(hdr), DeckOptions{Currency: "USD"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("no rows: err = %v", err)
	}
	// Capped listing.
	bad := hdr + strings.Repeat("x,0.1,1,1,2026-01-01\n", MaxListedErrors+7)
	_, err = ReadDeckCSV(strings.NewReader(bad), DeckOptions{Currency: "USD"})
	if !errors.As(err, &de) || len(de.Errors) != MaxListedErrors || de.Omitted != 7 || !strings.Contains(err.Error(), "and 7 more") {
		t.Fatalf("cap: %d listed, %d omitted", len(de.Errors), de.Omitted)
	}
}

func TestDeckValidateVersions(t *testing.T) {
	row := Row{Prefix: "1", Rate: usd("0.1"), NextIncrement: 1}
	d := Deck{Currency: "USD", Direction: Sell, Versions: []DeckVersion{
		{ID: "a", EffectiveFrom: jan1, Rows: []Row{row}},
		{ID: "b", EffectiveFrom: jan1, Rows: []Row{row}},
	}}
	if err := d.Validate(); !errors.Is(err, ErrBadInput) {
		t.Fatalf("two versions at one start: %v", err)
	}
	d.Versions[1].EffectiveFrom = jan1.Add(time.Hour)
	d.Versions[1].Rows = []Row{row, row}
	if err := d.Validate(); !errors.Is(err, ErrBadInput) {
		t.Fatalf("duplicate prefix: %v", err)
	}
	d.Versions[1].Rows = []Row{{Prefix: "1", Rate: money.MustNew("0.1", "EUR"), NextIncrement: 1}}
	if _, err := NewRater(&d); !errors.Is(err, ErrBadInput) {
		t.Fatalf("row in another currency: %v", err)
	}
}

func FuzzReadDeckCSV(f *testing.F) {
	f.Add(lpmDeck)
	f.Add("prefix,rate,first_increment,next_increment,effective_from,effective_until\n1,0.1,1,1,2026-01-01,2025-01-01\n")
	f.Add("prefix,rate,first_increment,next_increment,effective_from\n\"1\n2\",0.1,1,1,2026-01-01\n")
	f.Add("\ufeffprefix,rate,first_increment,next_increment,effective_from\n999999999999999,99999999.999999,86400,86400,2026-01-01T00:00:00+14:00\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ReadDeckCSV(strings.NewReader(in), DeckOptions{Currency: "USD", Decimals: 4, MaxRows: 100})
		if err != nil {
			if !errors.Is(err, ErrBadInput) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		r, err := NewRater(d)
		if err != nil {
			t.Fatalf("a deck ReadDeckCSV accepted fails NewRater: %v", err)
		}
		for _, v := range d.Versions {
			for _, row := range v.Rows {
				got, err := r.Rate(row.Prefix+"0", v.EffectiveFrom, 61_500)
				// Version v is in force at its own start and row matches.
				if err != nil {
					t.Fatalf("rating %s at %s: %v", row.Prefix, v.EffectiveFrom, err)
				}
				if got.Amount.Sign() < 0 || got.BillableSeconds < 62 || len(got.Prefix) < len(row.Prefix) {
					t.Fatalf("rated %s: %+v", row.Prefix, got)
				}
			}
		}
	})
}
