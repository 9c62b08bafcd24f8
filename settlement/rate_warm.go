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
}

// warm walks the prefix tries for a batch of calls before they are rated,
// all walks a digit at a time side by side, and then reads each matched
// row and its prefix and description text. It changes nothing; Rate does
// the same walk again, from the cache.
//
// Why: with a deck of tens of thousands of prefixes, the trie nodes, the
// rows and their strings are megabytes, and one call's walk is a chain of
// loads each waiting for the one before (~0.5 µs of cache misses per call
// when the duplicate check's table is evicting everything). Walked side by
// side, the batch's misses at one depth are independent of each other, so
// the CPU waits for them together. The result only keeps the loads from
// being optimised away.
//
// calls is scratch: warm reorders and overwrites it.
func (r *Rater) warm(calls []warmCall) uint64 {
	active := calls[:0]
	for _, c := range calls {
		if c.v != nil && c.number != "" {
			c.node, c.best = 0, 0
			active = append(active, c)
		}
	}
	var sink uint64
	for depth := 0; len(active) > 0; depth++ {
		next := active[:0]
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
			c.touchRow(&sink) // the walk ends here
		}
		active = next
	}
	return sink
}

// touchRow reads the row the walk found and the first byte of its texts,
// which the output line writes.
func (c *warmCall) touchRow(sink *uint64) {
	if c.best == 0 {
		return
	}
	row := &c.v.rows[c.best-1]
	*sink += uint64(len(row.prefix)) + uint64(row.a)
	if row.prefix != "" {
		*sink += uint64(row.prefix[0])
	}
	if row.description != "" {
		*sink += uint64(row.description[0])
	}
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
