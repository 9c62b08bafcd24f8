package testnet

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPrefixTablesEmbedded(t *testing.T) {
	tabs, err := PrefixTables()
	if err != nil {
		t.Fatal(err)
	}
	// Row counts restate testdata/PROVENANCE.md (libphonenumber snapshot).
	want := map[string]int{"33": 398, "44": 660, "49": 41, "61": 108}
	for cc, n := range want {
		if got := len(tabs[cc].Prefixes); got != n {
			t.Errorf("+%s: %d rows, want %d", cc, got, n)
		}
	}
	if len(tabs) != len(want) {
		t.Errorf("%d tables, want %d", len(tabs), len(want))
	}
}

func TestNumbersMatchMetadata(t *testing.T) {
	plan, err := NewNumberPlan()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	seen := map[string]int{}
	for range 20000 {
		n := plan.Number(r)
		if !ValidMobile(n) {
			t.Fatalf("%s is not a valid mobile number", n)
		}
		seen[n[:2]]++
	}
	for _, cc := range CountryCodes() {
		if seen[cc] < 4000 {
			t.Errorf("+%s drawn %d times of 20000", cc, seen[cc])
		}
	}
	// Restated vectors (libphonenumber example numbers and lengths).
	for n, ok := range map[string]bool{
		"447400123456": true, "33612345678": true, "4915123456789": true, "61412345678": true,
		"491601234567": true, "4916012345678": true, "33639123456": false, "44740012345": false,
	} {
		if ValidMobile(n) != ok {
			t.Errorf("ValidMobile(%s) = %v", n, !ok)
		}
	}
}

func TestNumbersDeterministic(t *testing.T) {
	plan, err := NewNumberPlan("44", "+33")
	if err != nil {
		t.Fatal(err)
	}
	a, b := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for range 100 {
		x, y := plan.Number(a), plan.Number(b)
		if x != y {
			t.Fatalf("%s != %s with the same seed", x, y)
		}
		if !strings.HasPrefix(x, "44") && !strings.HasPrefix(x, "33") {
			t.Fatalf("%s outside +44/+33", x)
		}
	}
	if _, err := NewNumberPlan("1"); !errors.Is(err, ErrUnknownCountry) {
		t.Fatalf("err %v", err)
	}
}

func TestParsePrefixTableErrors(t *testing.T) {
	for _, in := range []string{"", "# only comments\n", "44|X\n", "4471|ok\n3371|wrong country\n", "44a1|x\n", "4471\n"} {
		if _, err := ParsePrefixTable("44", []byte(in)); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
	tab, err := ParsePrefixTable("44", []byte("# c\n\n447106|O2\n4474408|Telecoms Cloud\n"))
	if err != nil || len(tab.Prefixes) != 2 || tab.Prefixes[1].Carrier != "Telecoms Cloud" {
		t.Fatalf("%v %+v", err, tab)
	}
}

func FuzzParsePrefixTable(f *testing.F) {
	f.Add("447106|O2\n")
	f.Add("# x\n\n4474408|Telecoms Cloud\n44|\n")
	f.Add("\xff|\n")
	f.Fuzz(func(t *testing.T, in string) {
		tab, err := ParsePrefixTable("44", []byte(in))
		if err != nil {
			return
		}
		for _, p := range tab.Prefixes {
			if !strings.HasPrefix(p.Digits, "44") || len(p.Digits) < 3 || !isDigits(p.Digits) {
				t.Fatalf("accepted prefix %q", p.Digits)
			}
		}
	})
}
