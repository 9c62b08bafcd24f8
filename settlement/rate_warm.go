package settlement

import (
	"strings"
	"time"
)

// warmCall is one call of a batch whose deck memory Rater.warm loads.
type warmCall struct {
	number string // digits only; other calls are not warmed
	v      *compiledVersion
	node   int32
	best   int32 // row index+1 of the longest prefix so far
	found  *rowHint
}

// rowHint is what Rater.warm found for a call: the row of number's
// longest prefix in version v (nil: none). Rate uses it instead of walking
// the trie again when the call's number and version are these; the zero
// rowHint is no hint.
type rowHint struct {
	number string
	v      *compiledVersion
	row    *compiledRow
}

// deckWarmer is Rater.warm's scratch, reused from batch to batch.
type deckWarmer struct {
	calls, next []warmCall
	rows        []*compiledRow
}

// warm walks the prefix tries for a batch of calls (w.calls) before they
// are rated, all walks a digit at a time side by side, then reads each
// matched row, then the first byte of its prefix and description. It
// leaves each call's row in its found hint, so Rate need not walk again.
//
// Why: with a deck of tens of thousands of prefixes, the trie nodes, the
// rows and their strings are megabytes, and one call's walk is a chain of
// loads each waiting for the one before (~0.5 µs of cache misses per call
// when the duplicate check's table is evicting everything). Walked side by
// side, the batch's misses at one depth do not depend on each other, so the
// CPU waits for them together; likewise for the rows and their texts. The
// result only keeps the loads from being optimised away.
func (r *Rater) warm(w *deckWarmer) uint64 {
	active, next, rows := w.calls[:0], w.next[:0], w.rows[:0]
	for _, c := range w.calls {
		if c.v != nil && c.number != "" {
			c.node, c.best = 0, 0
			active = append(active, c)
		}
	}
	for depth := 0; len(active) > 0; depth++ {
		next = next[:0]
		for _, c := range active {
			n := c.v.nodes[c.node].child[c.number[depth]-'0']
			if n != 0 {
				c.node = n
				if row := c.v.nodes[n].row; row != 0 {
					c.best = row
				}
				if depth+1 < len(c.number) {
					next = append(next, c)
					continue
				}
			}
			// The walk ends here.
			*c.found = rowHint{number: c.number, v: c.v}
			if c.best != 0 {
				c.found.row = &c.v.rows[c.best-1]
				rows = append(rows, c.found.row)
			}
		}
		active, next = next, active
	}
	var sink uint64
	for _, row := range rows {
		sink += uint64(len(row.prefix)) + row.rateUnits
	}
	for _, row := range rows {
		if row.prefix != "" {
			sink += uint64(row.prefix[0])
		}
		if row.description != "" {
			sink += uint64(row.description[0])
		}
	}
	w.next, w.rows = next, rows
	return sink
}

// warmNumber is the called number as Rate will walk it, or "" when it is
// not plain digits (an optional '+'): such calls are rated unwarmed.
func warmNumber(called string) string {
	called = strings.TrimPrefix(called, "+")
	for i := 0; i < len(called); i++ {
		if called[i] < '0' || called[i] > '9' {
			return ""
		}
	}
	return called
}

// warmVersion is r.version(t), cheaper for the usual one-version deck.
func (r *Rater) warmVersion(t time.Time) *compiledVersion {
	if len(r.versions) == 1 {
		v := &r.versions[0]
		if !v.from.After(t) && (v.until.IsZero() || t.Before(v.until)) {
			return v
		}
		return nil
	}
	return r.version(t)
}
