package settlement

import (
	_ "embed"
	"strings"
	"sync"
)

// minorUnitsCSV is "code,minor_unit" for every ISO 4217 currency that
// datasets/country-codes lists (ODC-PDDL-1.0; commit caa72d1e, columns
// ISO4217-currency_alphabetic_code and ISO4217-currency_minor_unit). It was
// generated once from /work/shared/data/country-codes/country-codes.csv; see
// testdata/PROVENANCE.md.
//
//go:embed minor_units.csv
var minorUnitsCSV string

var minorUnits = sync.OnceValue(func() map[string]int32 {
	m := map[string]int32{}
	for _, line := range strings.Split(minorUnitsCSV, "\n")[1:] {
		code, unit, ok := strings.Cut(strings.TrimSpace(line), ",")
		if ok && len(unit) == 1 && unit[0] >= '0' && unit[0] <= '9' {
			m[code] = int32(unit[0] - '0')
		}
	}
	return m
})

// MinorUnit returns the number of decimals of currency's minor unit (USD 2,
// JPY 0, KWD 3) and whether the currency is known. Safe for concurrent use.
func MinorUnit(currency string) (int32, bool) {
	d, ok := minorUnits()[currency]
	return d, ok
}
