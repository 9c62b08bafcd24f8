package fraud

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Range is one high-risk destination range: calls to numbers starting
// with Prefix (E.164 digits) are watched by the high_risk rule.
type Range struct {
	Prefix string `json:"prefix"`
	Name   string `json:"name,omitempty"`
	// Source says where the range comes from (highrisk.csv explains the
	// shipped sources; an operator's own entries say what they like).
	Source string `json:"source,omitempty"`
}

//go:embed highrisk.csv
var defaultRangesCSV string

// DefaultRanges returns the shipped high-risk ranges (highrisk.csv, with
// the provenance of each).
func DefaultRanges() []Range {
	rs, err := ParseRanges(strings.NewReader(defaultRangesCSV))
	if err != nil {
		panic("fraud: embedded highrisk.csv: " + err.Error())
	}
	return rs
}

// maxPrefixDigits is the longest prefix a range may have (E.164 numbers
// have at most 15 digits).
const maxPrefixDigits = 15

// ParseRanges reads ranges as CSV lines "prefix,name,source" (name and
// source optional; '#' starts a comment line). It returns every bad line
// in one error, and refuses a prefix given twice.
func ParseRanges(r io.Reader) ([]Range, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var out []Range
	var probs []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			probs = append(probs, err.Error())
			break
		}
		line, _ := cr.FieldPos(0)
		if len(rec) > 3 {
			probs = append(probs, fmt.Sprintf("line %d: %d fields, want prefix,name,source", line, len(rec)))
			continue
		}
		rg := Range{Prefix: strings.TrimPrefix(strings.TrimSpace(rec[0]), "+")}
		if len(rec) > 1 {
			rg.Name = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 {
			rg.Source = strings.TrimSpace(rec[2])
		}
		out = append(out, rg)
	}
	if err := CheckRanges(out); err != nil {
		probs = append(probs, err.Error())
	}
	if len(probs) > 0 {
		return nil, errors.New("fraud: high-risk ranges: " + strings.Join(probs, "; "))
	}
	return out, nil
}

// CheckRanges returns an error naming every range whose prefix is not
// 1–15 digits or repeats an earlier one.
func CheckRanges(rs []Range) error {
	seen := make(map[string]bool, len(rs))
	var probs []string
	for i, r := range rs {
		if !isDigits(r.Prefix) || len(r.Prefix) > maxPrefixDigits {
			probs = append(probs, fmt.Sprintf("range %d: prefix %q is not 1 to %d digits", i+1, r.Prefix, maxPrefixDigits))
			continue
		}
		if seen[r.Prefix] {
			probs = append(probs, fmt.Sprintf("range %d: prefix %s given twice", i+1, r.Prefix))
		}
		seen[r.Prefix] = true
	}
	if len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rangeIndex finds the longest high-risk range of a number by probing
// its prefixes from the longest range length down: no allocation.
type rangeIndex struct {
	byPrefix map[string]*Range
	longest  int
}

func newRangeIndex(rs []Range) rangeIndex {
	ix := rangeIndex{byPrefix: make(map[string]*Range, len(rs))}
	for i := range rs {
		ix.byPrefix[rs[i].Prefix] = &rs[i]
		ix.longest = max(ix.longest, len(rs[i].Prefix))
	}
	return ix
}

// lookup returns the longest range number starts with, or nil.
func (ix *rangeIndex) lookup(number string) *Range {
	for n := min(len(number), ix.longest); n > 0; n-- {
		if r := ix.byPrefix[number[:n]]; r != nil {
			return r
		}
	}
	return nil
}
