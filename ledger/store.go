package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configures Open. The zero value is valid.
type Options struct {
	// Logger receives open/restore events and skipped ignorable commands;
	// nil discards.
	Logger *slog.Logger
	// NoSync skips fsync on commit. For tests and benchmarks only: a crash
	// can lose applied state that Raft believes durable.
	NoSync bool
	// InitialMmapSize reserves address space so that the file can grow
	// without remapping while a snapshot's long read transaction is open
	// (remapping waits for every reader). Default 1 GiB; it costs no memory.
	InitialMmapSize int
	// ReadOnly opens an existing file under bbolt's shared lock without
	// writing it (offline audit, inspection of a stopped node's ledger).
	// Every read works; Restore returns ErrReadOnly and ApplyBatch panics
	// with it before touching the file. Open fails if the file does not
	// exist or was never opened read-write (it lacks the ledger buckets),
	// and fails with ErrLocked while a read-write process holds the file.
	ReadOnly bool
	// LockTimeout bounds the wait for bbolt's file lock. Default 5 s.
	LockTimeout time.Duration
	// Unsynced makes the file a cache of the Raft log, which is the durable
	// source: commits are not fsynced, and the file is trusted only after
	// a clean Close. While such a store is open the marker
	// <path>.unsynced exists; an Open that finds it (after a crash or a
	// power loss) moves the file aside to <path>.untrusted and starts
	// empty, so that consensus rebuilds it from its latest snapshot and
	// log. See unsynced.go and DESIGN.md "Unsynced mode".
	Unsynced bool
	// CommitInterval bounds how long applied entries may wait in the open
	// write transaction before it commits (see commit.go): the Raft log,
	// not this file, makes them durable. Default DefaultCommitInterval;
	// negative commits (and fsyncs) after every entry.
	CommitInterval time.Duration
	// CommitEntries commits after this many applied entries at the latest.
	// Default DefaultCommitEntries.
	CommitEntries int
	// OnUsage, when set, is called after each applied entry with the usage
	// records it wrote, in apply order (nil when none), outside the
	// store's locks: how node keeps its route-quality windows in step
	// with the replicated usage without reading it back. It runs on the
	// apply goroutine: it must be quick and must not apply.
	OnUsage func(index uint64, usages []Usage)

	// reference applies with none of the apply path's speed tricks (no
	// cursor cache, arena, member cache, partial decodes or reused result
	// encodings): the plain applier the differential test compares the
	// optimised one with (reference_test.go).
	reference bool
}

// Store is the ledger state machine on one bbolt file. All methods are safe
// for concurrent use; ApplyBatch and Restore must be called from a single
// goroutine (the consensus apply loop), reads from anywhere.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	// mu guards db: reads and applies hold it shared; Restore and Close
	// hold it exclusively to swap or drop the file.
	mu sync.RWMutex
	db *bolt.DB

	// applied is the index of the last applied entry, committed to the
	// file or still in the open write transaction (p).
	applied atomic.Uint64
	gens    atomic.Pointer[Generations]

	// p is the open write transaction of deferred commit (commit.go).
	p pendingWrites

	// discarded is where Open moved an untrusted file ("" if none).
	discarded string
}

// Generations counts changes per configuration table. Each counter only
// grows; Config grows with any of them. Node compares them to decide when
// to rebuild a cache (its route index, member lookup, deck cache).
type Generations struct {
	Config  uint64 `json:"config"`
	Network uint64 `json:"network"`
	Members uint64 `json:"members"`
	Trunks  uint64 `json:"trunks"`
	Peers   uint64 `json:"peers"`
	Routes  uint64 `json:"routes"`
	Decks   uint64 `json:"decks"`
	Revoked uint64 `json:"revoked"`
	// Fraud counts fraud block and release commands. It is stored only
	// once non-zero, so a log without fraud commands keeps the file (and
	// its digest) it had before the field existed.
	Fraud uint64 `json:"fraud"`
}

// Open opens (or creates) the store at path. The applied index it reports
// is whatever the file holds: consensus must replay only entries above it.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InitialMmapSize == 0 {
		opts.InitialMmapSize = 1 << 30
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.CommitInterval == 0 {
		opts.CommitInterval = DefaultCommitInterval
	}
	if opts.CommitEntries <= 0 {
		opts.CommitEntries = DefaultCommitEntries
	}
	s := &Store{path: path, opts: opts, log: opts.Logger}
	if opts.ReadOnly {
		if _, err := os.Stat(markerPath(path)); err == nil {
			s.log.Warn("ledger file was written without fsync and not closed cleanly; it may be torn, and a read-write open would rebuild it", "path", path)
		}
	} else {
		// Whatever this open's mode, a file an unsynced run did not close
		// cleanly may be torn: never apply to it.
		aside, err := discardIfUnclean(path)
		if err != nil {
			return nil, err
		}
		s.discarded = aside
		if aside != "" {
			s.log.Warn("ledger file was not closed cleanly after unsynced writes; moved aside, starting empty for consensus to rebuild from its snapshot and log",
				"path", path, "moved_to", aside)
		}
		// The marker must be durable before the first unsynced write (and
		// openDB writes); a synced open drops a stale one once the old
		// file is out of the way.
		if opts.Unsynced {
			err = createMarker(path)
		} else {
			err = clearMarker(path)
		}
		if err != nil {
			return nil, err
		}
	}
	db, err := s.openDB(path)
	if err != nil {
		return nil, err
	}
	s.db = db
	if err := s.loadCaches(); err != nil {
		db.Close()
		return nil, err
	}
	s.log.Info("ledger opened", "path", path, "applied_index", s.applied.Load(), "read_only", opts.ReadOnly, "unsynced", opts.Unsynced)
	return s, nil
}

// Discarded returns the path an Open moved an untrusted file to (see
// Options.Unsynced), or "" when the file was trusted. A non-empty value
// means this store started empty and must be rebuilt by consensus.
func (s *Store) Discarded() string { return s.discarded }

func (s *Store) openDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         s.opts.LockTimeout,
		NoSync:          s.opts.NoSync || s.opts.Unsynced,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: s.opts.InitialMmapSize,
		ReadOnly:        s.opts.ReadOnly,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is held by another process (another ospnode on this data directory?); waited %s", ErrLocked, path, s.opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	if s.opts.ReadOnly {
		if err := db.View(checkLayout); err != nil {
			db.Close()
			return nil, fmt.Errorf("ledger: open %s read-only: %w", path, err)
		}
		return db, nil
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if v := meta.Get(kSchema); v == nil {
			return meta.Put(kSchema, []byte{schemaVersion})
		} else if len(v) != 1 || v[0] != schemaVersion {
			return fmt.Errorf("schema version %v not supported (want %d)", v, schemaVersion)
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: init %s: %w", path, err)
	}
	return db, nil
}

// checkLayout checks, without writing, that tx holds every ledger bucket
// and a supported schema: what a read-only open needs, since it cannot
// create what is missing and every read assumes the buckets exist.
func checkLayout(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("no %q bucket (not a ledger, or never opened read-write by this version)", b)
		}
	}
	if v := tx.Bucket(bMeta).Get(kSchema); len(v) != 1 || v[0] != schemaVersion {
		return fmt.Errorf("schema version %v not supported (want %d)", v, schemaVersion)
	}
	return nil
}

func (s *Store) loadCaches() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		s.applied.Store(getU64(meta, kApplied))
		g := readGenerations(meta)
		s.gens.Store(&g)
		return nil
	})
}

// Close closes the file. It waits for open snapshots to be released.
// An unsynced store is fsynced first and its marker removed after, so the
// next Open trusts it; if either step fails the marker stays and the next
// Open rebuilds. Further calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	// Commit what is pending: with fsync this makes it durable; either way
	// a restart then replays nothing it already holds.
	if err := s.flushLocked(); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	if s.p.timer != nil {
		s.p.timer.Stop()
	}
	unsynced := s.opts.Unsynced && !s.opts.ReadOnly
	var syncErr error
	if unsynced {
		syncErr = s.db.Sync()
	}
	err := s.db.Close()
	s.db = nil
	if err == nil && syncErr != nil {
		err = fmt.Errorf("ledger: close: sync: %w", syncErr)
	}
	if err == nil && unsynced {
		err = clearMarker(s.path)
	}
	return err
}

// ReadOnly reports whether the store was opened with Options.ReadOnly.
func (s *Store) ReadOnly() bool { return s.opts.ReadOnly }

// Path returns the file path given to Open.
func (s *Store) Path() string { return s.path }

// AppliedIndex returns the log index of the last applied batch (0 for an
// empty store). It reads a cached value and never blocks.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// Generation returns Generations().Config: it changes whenever any
// configuration table changes. Cached; never blocks.
func (s *Store) Generation() uint64 { return s.Generations().Config }

// Generations returns the per-table change counters. Cached; never blocks.
func (s *Store) Generations() Generations {
	if g := s.gens.Load(); g != nil {
		return *g
	}
	return Generations{}
}

// view runs fn in a read transaction on the current file, after committing
// the entries applied so far (commit.go), so that every read sees every
// entry applied before it.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	if err := s.flushLocked(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// ApplyBatch applies the commands of log entry index into the open bbolt
// write transaction (which also stores index as the applied index, and
// commits as commit.go says: every CommitInterval, every CommitEntries
// entries, or before a read), and returns one encoded Result per command
// (read with DecodeResult). An index at or
// below AppliedIndex returns nil results and changes nothing, so replaying
// the log after a restart is harmless.
//
// It panics on an unknown non-ignorable command type or version (a newer
// or corrupt log must not silently diverge replicas) and on a storage
// failure (the entry is committed in Raft; the node must stop rather than
// skip it), and with an error wrapping ErrReadOnly on a store opened
// ReadOnly. Business rejections are Results, never panics.
func (s *Store) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	results := make([][]byte, len(cmds))
	if index <= s.applied.Load() {
		return results
	}
	var observed []Usage
	var obs *[]Usage
	if s.opts.OnUsage != nil {
		obs = &observed
	}
	s.applyBatch(index, cmds, results, obs)
	if s.opts.OnUsage != nil {
		s.opts.OnUsage(index, observed)
	}
	return results
}

// applyBatch is ApplyBatch under the store's locks; obs, when not nil,
// collects the usage records written.
func (s *Store) applyBatch(index uint64, cmds [][]byte, results [][]byte, obs *[]Usage) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		panic("ledger: ApplyBatch on a closed store")
	}
	if s.opts.ReadOnly {
		panic(fmt.Errorf("ledger: ApplyBatch index %d: %w", index, ErrReadOnly))
	}
	// Refuse a newer or corrupt entry before writing anything.
	for _, c := range cmds {
		checkEnvelope(c)
	}
	s.p.wmu.Lock()
	defer s.p.wmu.Unlock()
	if s.p.broken != nil {
		panic(fmt.Sprintf("ledger: apply index %d: %v", index, s.p.broken))
	}
	tx, err := s.writeTxLocked()
	if err != nil {
		panic(fmt.Sprintf("ledger: apply index %d: begin: %v", index, err))
	}
	// A panic below (a storage failure) leaves the transaction half
	// written: drop everything pending, so the store matches its file
	// again, and let the panic stop the node.
	defer func() {
		if r := recover(); r != nil {
			s.rollbackLocked()
			panic(r)
		}
	}()
	a := newApplier(tx, index, s.log)
	a.reference = s.opts.reference
	a.observed = obs
	for i, c := range cmds {
		res := a.apply(i, c)
		if res == a.encodedFor {
			results[i] = a.encoded
		} else {
			results[i] = EncodeResult(res)
		}
		if res != nil && res.Code == OK && res.Transaction != nil && res.TransactionID != 0 {
			s.rememberTx(res.TransactionID, res.Transaction)
		}
	}
	putU64(tx.Bucket(bMeta), kApplied, index)
	if a.gensDirty {
		writeGenerations(tx.Bucket(bMeta), &a.gens)
	}
	gens := a.gens
	if err := a.flush(); err != nil {
		panic(fmt.Sprintf("ledger: apply index %d: %v", index, err))
	}
	s.applied.Store(index)
	s.gens.Store(&gens)
	if err := s.entryAppliedLocked(); err != nil {
		panic(fmt.Sprintf("ledger: apply index %d: %v", index, err))
	}
}

// Bucket names (see DESIGN.md).
var (
	bMeta          = []byte("meta")
	bMembers       = []byte("members")
	bTrunks        = []byte("trunks")
	bPeers         = []byte("peers")
	bRoutes        = []byte("routes")
	bDecks         = []byte("decks")
	bTx            = []byte("tx")
	bTxIdem        = []byte("tx_idem")
	bUsage         = []byte("usage")
	bUsageIdem     = []byte("usage_idem")
	bUsageUnmatch  = []byte("usage_unmatched")
	bPosted        = []byte("posted")
	bPostings      = []byte("postings")
	bBalances      = []byte("balances")
	bPeriods       = []byte("periods")
	bOutbox        = []byte("outbox")
	bOutboxIDs     = []byte("outbox_ids")
	bRevoked       = []byte("revoked")
	bUsageByMember = []byte("usage_by_member")

	allBuckets = [][]byte{bMeta, bMembers, bTrunks, bPeers, bRoutes, bDecks, bTx, bTxIdem,
		bUsage, bUsageIdem, bUsageUnmatch, bPosted, bPostings, bBalances, bPeriods,
		bOutbox, bOutboxIDs, bRevoked, bUsageByMember}
)

// Keys of the meta bucket.
var (
	kSchema     = []byte("schema")
	kApplied    = []byte("applied_index")
	kNetwork    = []byte("network")
	kGens       = []byte("generations")
	kSeqUsage   = []byte("seq_usage")
	kSeqPosting = []byte("seq_posting")
	kSeqOutbox  = []byte("seq_outbox")
	kChainHead  = []byte("chain_head")
)

const schemaVersion = 1

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putU64(b *bolt.Bucket, k []byte, v uint64) {
	if err := b.Put(k, u64key(v)); err != nil {
		panic(fmt.Sprintf("ledger: put %s: %v", k, err))
	}
}

func readGenerations(meta *bolt.Bucket) Generations {
	var g Generations
	v := meta.Get(kGens)
	r := rbuf{b: v}
	if len(v) == 0 {
		return g
	}
	for _, p := range g.fields() {
		*p = r.u()
	}
	if len(r.b) > 0 {
		g.Fraud = r.u()
	}
	return g
}

func writeGenerations(meta *bolt.Bucket, g *Generations) {
	var w wbuf
	for _, p := range g.fields() {
		w.u(*p)
	}
	if g.Fraud != 0 {
		w.u(g.Fraud)
	}
	if err := meta.Put(kGens, w.b); err != nil {
		panic(fmt.Sprintf("ledger: put generations: %v", err))
	}
}

func (g *Generations) fields() []*uint64 {
	return []*uint64{&g.Config, &g.Network, &g.Members, &g.Trunks, &g.Peers, &g.Routes, &g.Decks, &g.Revoked}
}

var errStop = errors.New("stop")
