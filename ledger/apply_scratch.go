package ledger

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// Per-batch scratch space of the applier. Apply's hot commands (Authorize,
// RecordUsage) do a handful of Gets and Puts each; without these every Get
// allocated a cursor and its stack, and every key and value its own slice.
// None of this changes a stored byte: it only changes where the bytes sit
// in memory before bbolt copies them into pages at commit.

// applyScratch holds the reusable buffers and cursors of one batch.
type applyScratch struct {
	// reference turns every trick below off (Options.reference).
	reference bool
	// cursors holds one cursor per bucket for Gets: Seek reuses the
	// cursor's stack, where Bucket.Get builds a new cursor every time.
	cursors map[string]*bolt.Cursor
	// kbuf, ikey and pkey are key buffers (bbolt copies a Put's key and
	// keeps no Get key, so a key buffer can be reused at once): kbuf for a
	// key used immediately, ikey for the idempotency key and pkey for the
	// post-once key, which a command keeps until its last write.
	kbuf, ikey, pkey []byte
	// arena is a bump allocator for Put values, which bbolt keeps (does
	// not copy) until the transaction commits. A full chunk is replaced,
	// never grown, so earlier values stay where bbolt points to them.
	arena []byte

	// memberCache is memberForAuthorize's cache, valid while
	// gens.Members equals memberCacheGen.
	memberCache    map[string]memberIDStatus
	memberCacheGen uint64
	// encoded is EncodeResult(encodedFor), already built for the
	// idempotency record: ApplyBatch returns it instead of encoding again.
	// Sharing is safe: bbolt only reads the value, and the caller gets it
	// after the commit.
	encodedFor *Result
	encoded    []byte
	// hbuf holds prev ‖ body while post hashes a posting, and what a
	// usage's content hash is taken over (lifecycle.go); each use is done
	// with it before the next begins.
	hbuf []byte
}

const arenaChunk = 32 << 10

// get is Bucket.Get through the batch's cursor for bucket: the same
// result (nil for a missing key or a nested bucket), valid like Get's
// until the transaction ends.
func (a *applier) get(bucket, key []byte) []byte {
	if a.reference {
		return a.bucket(bucket).Get(key)
	}
	c, ok := a.cursors[string(bucket)]
	if !ok {
		c = a.bucket(bucket).Cursor()
		if a.cursors == nil {
			a.cursors = make(map[string]*bolt.Cursor, 8)
		}
		a.cursors[string(bucket)] = c
	}
	k, v := c.Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// keep copies p into the batch arena and returns the copy (capacity
// capped, so an append to it cannot overwrite a neighbour).
func (a *applier) keep(p []byte) []byte {
	if a.reference {
		return bytes.Clone(p)
	}
	if len(p) > cap(a.arena)-len(a.arena) {
		if len(p) > arenaChunk/4 {
			return bytes.Clone(p)
		}
		a.arena = make([]byte, 0, arenaChunk)
	}
	s := len(a.arena)
	a.arena = append(a.arena, p...)
	return a.arena[s:len(a.arena):len(a.arena)]
}

// keepU64 is keep(u64key(v)).
func (a *applier) keepU64(v uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], v)
	return a.keep(k[:])
}

func appendU64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

// appendSepU64 appends s, a 0 byte and v big-endian: the layout of
// memberUsageKey and outboxKey.
func appendSepU64(dst []byte, s string, v uint64) []byte {
	dst = append(dst, s...)
	dst = append(dst, 0)
	return appendU64(dst, v)
}

// appendBalanceKey appends balanceKey(account, currency).
func appendBalanceKey(dst []byte, account, currency string) []byte {
	dst = append(dst, account...)
	dst = append(dst, 0)
	return append(dst, currency...)
}

// appendPostedKey appends postedKey(txID, role, component, legacy).
func appendPostedKey(dst []byte, txID uint64, role Role, component string, legacy bool) []byte {
	dst = appendU64(dst, txID)
	if !legacy {
		dst = append(dst, 0xff, byte(role))
	}
	return append(dst, component...)
}

// appendUsageIdemKey appends usageIdemKey(c).
func appendUsageIdemKey(dst []byte, c *RecordUsage) []byte {
	w := wbuf{b: dst}
	if c.TransactionID != 0 {
		w.byte1('t')
		w.b = appendU64(w.b, c.TransactionID)
		w.byte1(byte(c.Role))
		w.str(c.ComponentID)
		return w.b
	}
	w.byte1('r')
	w.str(c.Reporter)
	w.str(c.ReporterKey)
	return w.b
}

// keyLenFits is keyFits for a key of n bytes.
func keyLenFits(n int) bool { return n > 0 && n <= bolt.MaxKeySize }
