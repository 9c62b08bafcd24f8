package fraud

import (
	"strings"
	"testing"
)

func TestDefaultRanges(t *testing.T) {
	rs := DefaultRanges()
	want := map[string]bool{"979": true, "808": true, "881": true, "882": true, "883": true}
	for _, r := range rs {
		delete(want, r.Prefix)
		if r.Name == "" || r.Source == "" {
			t.Errorf("range %s has no name or no source", r.Prefix)
		}
	}
	if len(want) != 0 {
		t.Fatalf("the defaults lack ITU premium/shared-cost/satellite codes %v", want)
	}
}

func TestParseRanges(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Range
		err      string
	}{
		{"comments and plus", "# hi\n+881,GMSS,itu\n979\n", []Range{{"881", "GMSS", "itu"}, {"979", "", ""}}, ""},
		{"not digits", "88a,x,y\n", nil, "88a"},
		{"too long", "1234567890123456\n", nil, "1234567890123456"},
		{"twice", "881\n881\n", nil, "twice"},
		{"too many fields", "881,a,b,c\n", nil, "4 fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRanges(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestRangeIndexLongest(t *testing.T) {
	ix := newRangeIndex([]Range{{Prefix: "88"}, {Prefix: "8816"}, {Prefix: "979"}})
	for num, want := range map[string]string{"88162": "8816", "8812": "88", "979": "979", "97": "", "": ""} {
		got := ""
		if r := ix.lookup(num); r != nil {
			got = r.Prefix
		}
		if got != want {
			t.Errorf("lookup(%q) = %q, want %q", num, got, want)
		}
	}
}

// FuzzParseRanges: any input either parses into valid ranges or is
// refused with an error; never a panic.
func FuzzParseRanges(f *testing.F) {
	f.Add(defaultRangesCSV)
	f.Add("881,\"a,b\",c\n")
	f.Add("\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		rs, err := ParseRanges(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := CheckRanges(rs); err != nil {
			t.Fatalf("parsed ranges fail their own check: %v", err)
		}
	})
}
