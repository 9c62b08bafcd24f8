package settlement

import (
	"hash/maphash"
	"math/bits"
)

// idSet remembers which transaction ids a stream has seen, so a second
// record with one is rejected (a member sending a call twice to be paid
// twice). It is the one part of streaming rating whose memory grows with the
// input: about 11 bytes per distinct id (10 million ids: ~110 MB), never the
// record itself.
//
// It stores a 64-bit keyed hash of each id, not the id: two different ids
// collide with probability about n²/2⁶⁵ (10 million ids: 3·10⁻⁶), and a
// collision shows as a "duplicate transaction id" reject in the rejects file,
// never as a silent loss. The seed is random per set.
//
// The hashes live in idShards open-addressing tables with linear probing,
// chosen by the hash's top bits, each grown by 1.25× when 80 % full: a
// shard's growth copies 1/4096 of the set, so there is no moment where the
// old and the new table of the whole set are both alive (a Go map of uint64
// holds 10 million ids in ~380 MB). Not safe for concurrent use.
type idSet struct {
	seed   maphash.Seed
	shards [idShards]idShard
	n      int
	sink   uint64 // where callers of touch leave its results
}

const idShards = 4096

type idShard struct {
	slots []uint64 // 0 = empty
	n     int
}

func newIDSet() *idSet { return &idSet{seed: maphash.MakeSeed()} }

// newIDSetFor is a set with room for about expected ids before any shard
// grows: the tables are sized once, 1.35 slots per id, so a shard grows
// only past 1.08× the mean count per shard (at 10 million ids, four
// standard deviations of how ids spread over shards), instead of growing
// 1.25× at a time from empty. Growing rehashes every
// id about four more times (~10 % of rating's CPU at 10 million records)
// and leaves the old tables to the collector. expected is a hint: more ids
// grow the tables as usual; fewer leave them emptier (8 bytes per slot).
func newIDSetFor(expected int64) *idSet {
	s := newIDSet()
	if expected <= 0 {
		return s
	}
	per := expected / idShards
	size := int(per + per/4 + per/10 + 16)
	for i := range s.shards {
		s.shards[i].slots = make([]uint64, size)
	}
	return s
}

// add records id and reports whether it was new.
func (s *idSet) add(id string) bool { return s.addHash(s.hash(id)) }

// hash is the key add stores for id (never 0: 0 marks an empty slot).
func (s *idSet) hash(id string) uint64 {
	h := maphash.String(s.seed, id)
	if h == 0 {
		h = 1
	}
	return h
}

// addHash records a key from hash and reports whether it was new.
func (s *idSet) addHash(h uint64) bool {
	sh := &s.shards[h>>(64-12)]
	if sh.n+1 > len(sh.slots)*4/5 {
		sh.grow()
	}
	if !sh.insert(h) {
		return false
	}
	s.n++
	return true
}

// touch reads the slot where addHash(h) will start probing, so its cache
// line is on its way before it is needed. With 10 million ids the table is
// ~110 MB and nearly every insert misses the cache (and the TLB): loading
// the slots of a batch of records in one tight loop lets the CPU wait for
// those misses together instead of one after another, which Go cannot ask
// for with a prefetch instruction. The result means nothing; the caller
// folds it into a value it keeps so the load is not dropped.
func (s *idSet) touch(h uint64) uint64 {
	sh := &s.shards[h>>(64-12)]
	if len(sh.slots) == 0 {
		return 0
	}
	hi, _ := bits.Mul64(h<<12, uint64(len(sh.slots)))
	return sh.slots[hi]
}

// insert puts h in the table unless it is there; the table has room.
func (sh *idShard) insert(h uint64) bool {
	// Fast range reduction: the low 52 bits (the top 12 chose the shard)
	// scaled to the table size.
	hi, _ := bits.Mul64(h<<12, uint64(len(sh.slots)))
	for i := int(hi); ; {
		switch sh.slots[i] {
		case 0:
			sh.slots[i] = h
			sh.n++
			return true
		case h:
			return false
		}
		if i++; i == len(sh.slots) {
			i = 0
		}
	}
}

func (sh *idShard) grow() {
	old := sh.slots
	size := len(old) + len(old)/4
	if size < 16 {
		size = 16
	}
	sh.slots, sh.n = make([]uint64, size), 0
	for _, h := range old {
		if h != 0 {
			sh.insert(h)
		}
	}
}

// bytes returns the memory the tables hold.
func (s *idSet) bytes() int {
	n := 0
	for i := range s.shards {
		n += 8 * len(s.shards[i].slots)
	}
	return n
}
