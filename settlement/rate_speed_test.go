package settlement

import (
	"io"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ospnode/ospnode/ledger/money"
)

// TestParseUTCMillisMatchesTimeParse: the fast path for
// 2006-01-02T15:04:05.000Z gives what time.RFC3339Nano gives, and declines
// (ok false) everything time.Parse refuses or reads differently.
func TestParseUTCMillisMatchesTimeParse(t *testing.T) {
	cases := []string{
		"2026-11-15T18:09:04.692Z", "2026-01-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
		"2024-02-29T12:00:00.000Z", "2026-02-29T12:00:00.000Z", "2026-04-31T12:00:00.000Z", "2026-13-01T00:00:00.000Z",
		"2026-00-01T00:00:00.000Z", "2026-01-00T00:00:00.000Z", "2026-01-32T00:00:00.000Z", "2026-01-01T24:00:00.000Z",
		"2026-01-01T23:60:00.000Z", "2026-01-01T23:59:60.000Z", "2026-01-01t00:00:00.000Z", "2026-01-01T00:00:00.000z",
		"2026-01-01T00:00:00,000Z", "2026-01-01T00:00:00.00aZ", "+026-01-01T00:00:00.000Z", "2026-1-01T00:00:00.0000Z",
		"2026-01-01 00:00:00.000Z", "2026-01-01T00:00:00.000+", "2026-01-01T00:00:00Z", "2100-02-29T00:00:00.000Z",
		"2000-02-29T00:00:00.000Z", "2026-06-30T00:00:00.000Z", "2026-06-31T00:00:00.000Z", "2026-01-01T-1:00:00.000Z",
	}
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 20000; i++ {
		b := []byte("2026-11-15T18:09:04.692Z")
		for k := 0; k < 3; k++ { // a few random digits, sometimes not a digit
			b[rng.Intn(len(b))] = "0123456789:-.TZ+ x"[rng.Intn(18)]
		}
		cases = append(cases, string(b))
	}
	for _, years := range [][2]int{{0, 4}, {1896, 1904}, {1968, 1972}, {1999, 2001}, {2096, 2104}, {9996, 9999}} {
		for at := time.Date(years[0], 1, 1, 0, 0, 0, 0, time.UTC); at.Year() <= years[1]; at = at.Add(24*time.Hour + 61*time.Second + 7*time.Millisecond) {
			cases = append(cases, at.Format("2006-01-02T15:04:05.000Z"))
		}
	}
	for _, s := range cases {
		got, ok := parseUTCMillis(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok {
			if len(s) == 24 && err == nil && strings.HasSuffix(s, "Z") && s[10] == 'T' && s[19] == '.' {
				t.Errorf("%q: declined, time.Parse reads %v", s, want)
			}
			continue
		}
		if err != nil || !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("%q: fast %v (%v), time.Parse %v (%v) err %v", s, got, got.Location(), want, want.Location(), err)
		}
	}
}

// TestFieldNeedsQuotesMatchesRule: the word-at-a-time check agrees with
// encoding/csv's rule written plainly, for fields of every length up to 40
// with a special byte anywhere.
func TestFieldNeedsQuotesMatchesRule(t *testing.T) {
	plain := func(f string) bool {
		if f == "" {
			return false
		}
		if f == `\.` || strings.ContainsAny(f, ",\"\r\n") {
			return true
		}
		r, _ := utf8.DecodeRuneInString(f)
		return unicode.IsSpace(r)
	}
	rng := rand.New(rand.NewSource(3))
	alphabet := []string{"a", "7", ",", "\"", "\r", "\n", " ", "\t", "\u00a0", "é", "\x00", "\xff", "+", "\u0085", "\\", "."}
	fields := []string{"", `\.`, `\`, ".", " x", "x ", "\u00a0x", "\u2028"}
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		n := rng.Intn(41)
		for b.Len() < n {
			if rng.Intn(8) == 0 {
				b.WriteString(alphabet[rng.Intn(len(alphabet))])
			} else {
				b.WriteByte(byte('0' + rng.Intn(10)))
			}
		}
		fields = append(fields, b.String())
	}
	for _, f := range fields {
		if got, want := fieldNeedsQuotes(f), plain(f); got != want {
			t.Errorf("fieldNeedsQuotes(%q) = %v, want %v", f, got, want)
		}
	}
}

// TestIDSetSized: a set sized for n ids holds them without growing, and one
// sized too small still takes more, remembering every id.
func TestIDSetSized(t *testing.T) {
	for _, tc := range []struct {
		name            string
		expected, added int
		wantNoGrowth    bool
	}{
		{"exact", 1_000_000, 1_000_000, true},
		{"too small", 1_000, 100_000, false},
		{"none", 0, 10_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newIDSetFor(int64(tc.expected))
			before := s.bytes()
			for i := 0; i < tc.added; i++ {
				if !s.add("T" + strings.Repeat("x", i%3) + strconv.Itoa(i)) {
					t.Fatalf("id %d reported seen", i)
				}
			}
			for i := 0; i < tc.added; i += 13 {
				if s.add("T" + strings.Repeat("x", i%3) + strconv.Itoa(i)) {
					t.Fatalf("id %d not remembered", i)
				}
			}
			if tc.wantNoGrowth && s.bytes() > before+before/20 {
				t.Errorf("grew from %d to %d bytes", before, s.bytes())
			}
			if tc.wantNoGrowth && before > tc.expected*12 {
				t.Errorf("%d bytes for %d expected ids (want ≤ 12 each)", before, tc.expected)
			}
		})
	}
}

// TestRateStreamMatchesRate: RateStream (batches, Rater.warm's row hints,
// integer sums) rates every record as Rate does alone, rejects the same
// ones, and totals the amounts to the same exact sum — over a deck of two
// versions with nested prefixes and numbers that match, match nothing, carry
// a '+', are too long or are not numbers, at times before, in and between
// the versions.
func TestRateStreamMatchesRate(t *testing.T) {
	var deck strings.Builder
	deck.WriteString("prefix,description,rate,connect_fee,first_increment,next_increment,effective_from,effective_until\n")
	rng := rand.New(rand.NewSource(11))
	for _, v := range []struct{ from, until string }{{"2026-01-01", "2026-06-01"}, {"2026-07-01", ""}} {
		seen := map[string]bool{}
		for i := 0; i < 300; i++ {
			p := strconv.Itoa(1 + rng.Intn(9))
			for k := rng.Intn(5); k > 0; k-- {
				p += strconv.Itoa(rng.Intn(10))
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			deck.WriteString(p + ",d" + p + ",0." + strconv.Itoa(rng.Intn(100000)) + ",0.00" + strconv.Itoa(rng.Intn(10)) + ",1,1," + v.from + "," + v.until + "\n")
		}
	}
	d, err := ReadDeckCSV(strings.NewReader(deck.String()), DeckOptions{Currency: "USD", Decimals: 4, AllowOverlap: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRater(d)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	in.WriteString("called,connect_time,duration\n")
	for i := 0; i < 5000; i++ {
		num := strconv.Itoa(1 + rng.Intn(9))
		for k := 4 + rng.Intn(14); k > 0; k-- {
			num += strconv.Itoa(rng.Intn(10))
		}
		switch rng.Intn(10) {
		case 0:
			num = "+" + num
		case 1:
			num = num[:3] + "x" + num[3:]
		}
		at := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int63n(int64(300 * 24 * time.Hour))))
		in.WriteString(num + "," + at.Format("2006-01-02T15:04:05.000Z") + "," + strconv.Itoa(rng.Intn(4000)) + "\n")
	}
	type outcome struct{ billable, amount, prefix, reason string }
	var got, want []outcome
	cr, err := NewCDRReader(strings.NewReader(in.String()), CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := RateStream(cr, r, RateStreamOptions{
		Rated: func(c *CDR) error {
			got = append(got, outcome{strconv.FormatInt(c.BillableSeconds, 10), c.Amount.Text(), c.Prefix, ""})
			return nil
		},
		Reject: func(e *RowError, _ []string) error { got = append(got, outcome{reason: e.Reason}); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	total := money.Zero("USD")
	ref, _ := NewCDRReader(strings.NewReader(in.String()), CDRFormat{})
	for {
		var c CDR
		if err := ref.Next(&c); err == io.EOF {
			break
		} else if err != nil {
			want = append(want, outcome{reason: "unparsed"})
			continue
		}
		rated, err := r.Rate(c.Called, c.ConnectTime, c.DurationMillis)
		if err != nil {
			want = append(want, outcome{reason: "rejected"})
			continue
		}
		want = append(want, outcome{strconv.FormatInt(rated.BillableSeconds, 10), rated.Amount.Text(), rated.Prefix, ""})
		if total, err = total.Add(rated.Amount); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d outcomes, want %d", len(got), len(want))
	}
	rejected := 0
	for i := range got {
		if got[i].reason != "" {
			rejected++
			got[i].reason = "rejected"
		}
		if got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
	if rejected == 0 || rejected == len(got) {
		t.Errorf("%d of %d rejected: the fixture should have both", rejected, len(got))
	}
	if sum.Amount.Text() != total.Text() {
		t.Errorf("total %s, want %s", sum.Amount.Text(), total.Text())
	}
}

// TestAppendTimeMillisMatchesFormat: the day-arithmetic path writes what
// time.Format writes, from 1970 to 9999 and around both ends, in any zone.
func TestAppendTimeMillisMatchesFormat(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	zone := time.FixedZone("x", -7*3600-30*60)
	var times []time.Time
	for _, years := range [][2]int{{1968, 1973}, {1999, 2001}, {2024, 2027}, {2099, 2101}, {9998, 9999}} {
		for at := time.Date(years[0], 1, 1, 0, 0, 0, 0, time.UTC); at.Year() <= years[1]; at = at.Add(23*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond) {
			times = append(times, at, at.In(zone))
		}
	}
	for i := 0; i < 20000; i++ {
		times = append(times, time.Unix(rng.Int63n(253402300800+86400)-86400, rng.Int63n(1e9)))
	}
	times = append(times, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	for _, at := range times {
		got := string(appendTimeMillis([]byte("x"), at))
		if want := "x" + at.UTC().Format("2006-01-02T15:04:05.000Z07:00"); got != want {
			t.Errorf("%v: %q, want %q", at, got, want)
		}
	}
}
