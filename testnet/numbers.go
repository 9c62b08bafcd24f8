package testnet

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/ospnode/ospnode/ledger/e164"
)

// The carrier prefix tables of libphonenumber (Apache-2.0, see
// testdata/PROVENANCE.md) ship in the binary so that `ospnode bench` draws
// real mobile ranges anywhere it runs. Four countries, ~36 KB.
//
//go:embed testdata/e164/*.txt
var prefixFS embed.FS

// ErrUnknownCountry is returned by NewNumberPlan for a country code without
// an embedded prefix table.
var ErrUnknownCountry = errors.New("testnet: no prefix table for country code")

// Prefix is one row of a carrier prefix table: E.164 digits (country code
// first, no "+") and the carrier's name.
type Prefix struct {
	Digits  string
	Carrier string
}

// PrefixTable is the mobile prefix table of one country calling code.
type PrefixTable struct {
	CountryCode string
	Prefixes    []Prefix
	// lengths returns the total E.164 length (country code included) a
	// number starting with prefix may have; the first is the usual one.
	lengths func(prefix string) []int
}

// numberLengths restates, per country code, libphonenumber's mobile
// possibleLengths (PhoneNumberMetadata.xml) as total E.164 lengths.
var numberLengths = map[string]func(string) []int{
	"33": func(string) []int { return []int{11} },
	"44": func(string) []int { return []int{12} },
	"61": func(string) []int { return []int{11} },
	"49": func(p string) []int {
		if strings.HasPrefix(p, "4915") {
			return []int{13}
		}
		return []int{12, 13} // 016x, 017x: 10 or 11 national digits
	},
}

// mobilePatterns restates libphonenumber's mobile nationalNumberPattern for
// the embedded countries (same snapshot as the tables; +44 is GB with
// Jersey, Guernsey and the Isle of Man): a carrier row such as +33 63 also
// covers 639, which is Mayotte's, so a completed number is checked and
// redrawn (row and digits) until it is a valid mobile number.
var mobilePatterns = map[string]*regexp.Regexp{
	"33": regexp.MustCompile(`^(?:6(?:[0-24-8]\d|3[0-8]|9[589])|7[3-9]\d)\d{6}$`),
	"44": regexp.MustCompile(`^(?:7(?:457[0-57-9]|700[01]|911[028])\d{5}|7(?:[1-3]\d\d|4(?:[0-46-9]\d|5[0-689])|5(?:0[0-8]|[13-9]\d|2[0-35-9])|7(?:0[1-9]|[1-7]\d|8[02-9]|9[0-689])|8(?:[014-9]\d|[23][0-8])|9(?:[024-9]\d|1[02-9]|3[0-689]))\d{6}|7(?:(?:(?:50|82)9|937)\d|7(?:00[378]|97\d))\d{5}|7(?:(?:781|839)\d|911[17])\d{5}|76245[06]\d{4}|7(?:4576|[59]24\d|624[0-4689])\d{5})$`), // GB, JE, GG, IM share +44
	"49": regexp.MustCompile(`^(?:1(?:6[023]|7\d)\d{7,8}|15(?:[0-25-9]\d\d|3(?:10|33))\d{6})$`),
	"61": regexp.MustCompile(`^(?:4(?:79[01]|83[0-36-9]|95[0-3])\d{5}|4(?:[0-36]\d|4[047-9]|[58][0-24-9]|7[02-8]|9[0-47-9])\d{6})$`),
}

// CountryCodes returns the country calling codes with an embedded prefix
// table, sorted.
func CountryCodes() []string {
	cc := make([]string, 0, len(numberLengths))
	for k := range numberLengths {
		cc = append(cc, k)
	}
	slices.Sort(cc)
	return cc
}

var (
	tablesOnce sync.Once
	tables     map[string]*PrefixTable
	tablesErr  error
)

// PrefixTables returns the embedded tables keyed by country code. They are
// parsed once and shared: callers must not modify them. Safe for concurrent
// use.
func PrefixTables() (map[string]*PrefixTable, error) {
	tablesOnce.Do(func() {
		tables = map[string]*PrefixTable{}
		for cc, ln := range numberLengths {
			b, err := prefixFS.ReadFile("testdata/e164/" + cc + ".txt")
			if err != nil {
				tablesErr = fmt.Errorf("testnet: prefix table %s: %w", cc, err)
				return
			}
			t, err := ParsePrefixTable(cc, b)
			if err != nil {
				tablesErr = err
				return
			}
			t.lengths = ln
			tables[cc] = t
		}
	})
	return tables, tablesErr
}

// ParsePrefixTable parses a libphonenumber carrier file ("PREFIX|CARRIER"
// lines, "#" comments, blank lines) for country code cc. Every prefix must be
// digits starting with cc; any other line is an error naming its number.
func ParsePrefixTable(cc string, b []byte) (*PrefixTable, error) {
	t := &PrefixTable{CountryCode: cc}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		digits, carrier, ok := strings.Cut(line, "|")
		if !ok || !isDigits(digits) || !strings.HasPrefix(digits, cc) || len(digits) <= len(cc) {
			return nil, fmt.Errorf("testnet: prefix table %s line %d: %q is not PREFIX|CARRIER with a +%s prefix", cc, n, line, cc)
		}
		t.Prefixes = append(t.Prefixes, Prefix{Digits: digits, Carrier: carrier})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testnet: prefix table %s: %w", cc, err)
	}
	if len(t.Prefixes) == 0 {
		return nil, fmt.Errorf("testnet: prefix table %s has no prefix", cc)
	}
	return t, nil
}

// isDigits reports whether s is one or more decimal digits.
func isDigits(s string) bool { return s != "" && e164.IsDigits(s) }

// NumberPlan draws E.164 numbers (digits, no "+") from a set of prefix
// tables: a table uniformly, a row of it uniformly, then random digits up to
// a valid length for that range. It holds no randomness of its own: the
// caller passes the generator, so a seeded call model is reproducible. A
// NumberPlan is immutable and safe for concurrent use.
type NumberPlan struct {
	tables []*PrefixTable
}

// NewNumberPlan returns a plan over the embedded tables of the given
// country codes (all of CountryCodes() when none is given). An unknown code
// is ErrUnknownCountry.
func NewNumberPlan(countryCodes ...string) (*NumberPlan, error) {
	all, err := PrefixTables()
	if err != nil {
		return nil, err
	}
	if len(countryCodes) == 0 {
		countryCodes = CountryCodes()
	}
	p := &NumberPlan{}
	for _, cc := range countryCodes {
		t, ok := all[strings.TrimPrefix(cc, "+")]
		if !ok {
			return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownCountry, cc, strings.Join(CountryCodes(), ", "))
		}
		p.tables = append(p.tables, t)
	}
	return p, nil
}

// Number draws one number with r. The same sequence of r values gives the
// same number.
func (p *NumberPlan) Number(r *rand.Rand) string {
	var buf [16]byte
	return string(p.AppendNumber(buf[:0], r))
}

// AppendNumber appends a number drawn with r to dst (see Number).
func (p *NumberPlan) AppendNumber(dst []byte, r *rand.Rand) []byte {
	start := len(dst)
	// Redraws make the rare invalid completion (see mobilePatterns)
	// vanishingly rare; the last draw is kept rather than loop for ever.
	for try := 0; ; try++ {
		t := p.tables[r.IntN(len(p.tables))]
		pre := t.Prefixes[r.IntN(len(t.Prefixes))].Digits
		lens := t.lengths(pre)
		n := lens[r.IntN(len(lens))]
		dst = append(dst[:start], pre...)
		for i := len(pre); i < n; i++ {
			dst = append(dst, byte('0'+r.IntN(10)))
		}
		pat := mobilePatterns[t.CountryCode]
		if pat == nil || try == 32 || pat.Match(dst[start+len(t.CountryCode):]) {
			return dst
		}
	}
}

// ValidMobile reports whether number (E.164 digits, no "+") is a valid
// mobile number of one of the embedded countries, by libphonenumber's
// pattern.
func ValidMobile(number string) bool {
	for cc, pat := range mobilePatterns {
		if strings.HasPrefix(number, cc) && pat.MatchString(number[len(cc):]) {
			return true
		}
	}
	return false
}
