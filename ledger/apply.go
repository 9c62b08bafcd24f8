package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ospnode/ospnode/ledger/money"
)

// applier applies the commands of one log entry inside one write
// transaction. Every command validates completely before its first write,
// so a rejected command leaves nothing behind even though the batch shares
// one transaction. Counters live in memory and are flushed once per batch.
type applier struct {
	tx    *bolt.Tx
	index uint64
	log   *slog.Logger

	meta *bolt.Bucket

	gens      Generations
	gensDirty bool

	countersLoaded bool
	seqUsage       uint64
	seqPosting     uint64
	seqOutbox      uint64
	chainHead      [32]byte

	periodsLoaded bool
	openStart     time.Time // start of the open period (End of the last closed)

	netLoaded bool
	net       Network

	// balances are the running balances this batch touched, written once
	// by flush (balanceKey → amount).
	balances map[string]*money.Amount

	scratch wbuf
	applyScratch

	// observed collects the usage records written, for Options.OnUsage
	// (nil: nobody observes).
	observed *[]Usage
}

func newApplier(tx *bolt.Tx, index uint64, log *slog.Logger) *applier {
	meta := tx.Bucket(bMeta)
	return &applier{tx: tx, index: index, log: log, meta: meta, gens: readGenerations(meta)}
}

// must turns a storage error into a panic: the entry is committed in Raft,
// so failing to apply it is not a business outcome (see ApplyBatch).
func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("ledger: storage: %v", err))
	}
}

func (a *applier) loadCounters() {
	if a.countersLoaded {
		return
	}
	a.countersLoaded = true
	a.seqUsage = getU64(a.meta, kSeqUsage)
	a.seqPosting = getU64(a.meta, kSeqPosting)
	a.seqOutbox = getU64(a.meta, kSeqOutbox)
	copy(a.chainHead[:], a.meta.Get(kChainHead))
}

func (a *applier) flush() error {
	a.flushBalances()
	if a.countersLoaded {
		putU64(a.meta, kSeqUsage, a.seqUsage)
		putU64(a.meta, kSeqPosting, a.seqPosting)
		putU64(a.meta, kSeqOutbox, a.seqOutbox)
		if a.seqPosting > 0 {
			must(a.meta.Put(kChainHead, a.chainHead[:]))
		}
	}
	return nil
}

func (a *applier) bumpGen(p *uint64) {
	*p++
	a.gens.Config++
	a.gensDirty = true
}

func (a *applier) network() Network {
	if !a.netLoaded {
		a.netLoaded = true
		if v := a.meta.Get(kNetwork); v != nil {
			must(json.Unmarshal(v, &a.net))
		}
	}
	return a.net
}

func (a *applier) openPeriodStart() time.Time {
	if !a.periodsLoaded {
		a.periodsLoaded = true
		if k, _ := a.bucket(bPeriods).Cursor().Last(); k != nil {
			a.openStart = keyTime(k)
		}
	}
	return a.openStart
}

func invalid(format string, args ...any) *Result {
	return &Result{Code: Invalid, Message: fmt.Sprintf(format, args...)}
}

func rejected(format string, args ...any) *Result {
	return &Result{Code: Rejected, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Result {
	return &Result{Code: NotFound, Message: fmt.Sprintf(format, args...)}
}

// checkEnvelope panics on an unknown non-ignorable type or an unknown
// version of a known type; ApplyBatch calls it for the whole batch before
// opening the write transaction.
func checkEnvelope(c []byte) {
	if len(c) == 0 {
		return // Invalid result, deterministic everywhere
	}
	t := CommandType(c[0])
	if !knownType(t) {
		if t&Ignorable != 0 {
			return
		}
		panic(fmt.Sprintf("ledger: unknown command type %d (newer or corrupt log); refusing to diverge", c[0]))
	}
	if len(c) >= 2 && !versionSupported(t, c[1]) {
		panic(fmt.Sprintf("ledger: %s version %d not supported by this build (newer or corrupt log)", t, c[1]))
	}
}

// apply applies command c, the pos-th of the entry.
func (a *applier) apply(pos int, c []byte) *Result {
	checkEnvelope(c)
	if len(c) == 0 {
		return invalid("empty command")
	}
	t := CommandType(c[0])
	spec := commands[t]
	if spec == nil {
		// checkEnvelope let it through: an unknown ignorable type.
		a.log.Warn("ledger: skipped unknown ignorable command", "type", uint8(t), "index", a.index)
		return &Result{Code: Ignored, Message: fmt.Sprintf("unknown ignorable command type %d skipped", uint8(t))}
	}
	if len(c) < 2 {
		return invalid("%v", fmt.Errorf("%w: envelope of %d bytes", ErrInvalid, len(c)))
	}
	return spec.apply(a, pos, c[2:], c[1])
}

func putJSON(b *bolt.Bucket, k []byte, v any) {
	p, err := json.Marshal(v)
	must(err)
	must(b.Put(k, p))
}

func (a *applier) remove(bucket, key []byte, what string, gen *uint64) *Result {
	b := a.bucket(bucket)
	if len(key) == 0 || b.Get(key) == nil {
		return notFound("%s %q not found", what, key)
	}
	must(b.Delete(key))
	a.bumpGen(gen)
	return &Result{Code: OK, Count: 1}
}

// Keys.

// routeKey prefixes the route's prefix with '#' so that the empty prefix
// (a default route) is a valid bbolt key.
func routeKey(prefix string) []byte { return append([]byte{'#'}, prefix...) }

// timeKey orders times as big-endian keys (the sign bit flipped so that
// times before 1970 sort first).
func timeKey(t time.Time) []byte { return u64key(uint64(t.UnixNano()) ^ 1<<63) }

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k)^1<<63)).UTC()
}

func beU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// txIdemKey is the Authorize idempotency key of a version 2 command:
// member, messageId and Call-ID, the last two hashed when long
// (keyComponent), so the key is at most a few hundred bytes.
func txIdemKey(member, messageID, callID string) []byte {
	return txIdemKeyV1(member, keyComponent(messageID), keyComponent(callID))
}

// txIdemKeyV1 is the key of a version 1 Authorize: the raw fields. Kept
// so that replaying an old log reproduces its state, and so that a retry
// finds a transaction an older build recorded (Store.TransactionByKey).
func txIdemKeyV1(member, messageID, callID string) []byte {
	var w wbuf
	w.str(member)
	w.str(messageID)
	w.str(callID)
	return w.b
}

var (
	kDeckHeader = []byte("h")
	kDeckRows   = []byte("r")
)

// nanoSafe reports whether t can be stored as int64 UnixNano (years
// 1678..2262): keys and the binary codec depend on it.
func nanoSafe(ts ...time.Time) bool {
	for _, t := range ts {
		if t.IsZero() {
			continue
		}
		if t.Year() < 1678 || t.Year() > 2261 {
			return false
		}
	}
	return true
}

// appendMostly are buckets whose keys grow with the log (ids, index-based
// transaction ids): splitting their pages nearly full instead of bbolt's
// default half keeps the file close to half the size. Layout only: the
// digest and every value are unaffected.
var appendMostly = map[string]bool{
	string(bTx): true, string(bUsage): true, string(bPostings): true, string(bUsageIdem): true,
	string(bPosted): true, string(bUsageUnmatch): true, string(bOutboxIDs): true,
}

func (a *applier) bucket(name []byte) *bolt.Bucket {
	b := a.tx.Bucket(name)
	if appendMostly[string(name)] {
		b.FillPercent = 0.95
	}
	return b
}
