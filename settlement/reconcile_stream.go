package settlement

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// StreamOptions bound ReconcileStream's memory and say where it spills.
type StreamOptions struct {
	// TmpDir holds the partition files ("" = os.TempDir()); they are
	// removed when ReconcileStream returns.
	TmpDir string
	// Partitions is how many hash partitions each pass splits the records
	// into; one partition of both sides is in memory at a time. 0 = 1 (all
	// in memory); PartitionsFor computes it from the input size and a
	// memory budget.
	Partitions int
	// Period: only records connected in it are reconciled (the zero Period
	// keeps all).
	Period Period
	// Internal: ours holds both roles (source = ours, destination =
	// theirs, as ReconcileInternal); theirs must be nil.
	Internal bool
	// Start, if not nil, is called once the report's totals, classes and
	// decision are final, before the first match reaches Sink (a
	// ReportWriter's Start).
	Start func(*Report) error
	// Sink, if not nil, receives every match, grouped by class in Classes
	// order (within a class, in partition order); the report then keeps
	// no Matches. If nil, Report.Matches holds them all (in memory).
	Sink func(*Match) error
}

// bytesPerInputByte is how much memory one byte of CDR CSV takes once
// read into CDRs and indexed by the matching passes (measured: ~80-byte
// lines, ~650 bytes of heap per record at the peak of a pass).
const bytesPerInputByte = 8

// MaxPartitions caps the partitions of a pass: each is two open files
// with a 64 KB buffer, and the open-file limit is often 1,024. Beyond it a
// partition holds more than the budget.
const MaxPartitions = 256

// PartitionsFor returns how many partitions keep one partition of inputs
// totalling inputBytes of CSV within budget bytes of memory (at most
// MaxPartitions).
func PartitionsFor(inputBytes, budget int64) int {
	if budget <= 0 || inputBytes <= 0 {
		return 1
	}
	p := (inputBytes*bytesPerInputByte + budget - 1) / budget
	return int(max(1, min(p, MaxPartitions)))
}

// CDRSource yields records: nil, a *RowError for a bad one (skipped and
// reported), io.EOF at the end, or another error.
type CDRSource func(*CDR) error

// ReconcileStream reconciles ours against theirs like Reconcile — the same
// three keys in the same order, the same classes, totals and decision —
// without holding either side in memory: each pass hash-partitions the
// records still unmatched by its key (transaction id, then Call-ID, then
// calling+called) into files under TmpDir and matches one partition at a
// time. Two records that Reconcile could pair share the pass's key, so they
// meet in the same partition; within one, records keep their file order,
// so the pairs are Reconcile's.
//
// A bad record in either input rejects that input whole, as ReadCDRs does
// (a *CDRError naming the lines). Memory: one partition of both sides, and
// the class totals — except across networks: when any record carries a
// PeerTransactionID, pass 1 (which pairs one side's peer id with the
// other's own id) holds every record that has an id at once.
func ReconcileStream(ours, theirs CDRSource, opts ReconcileOptions, so StreamOptions) (*Report, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if so.Internal {
		if o.OursLabel == "ours" {
			o.OursLabel = string(RoleSource)
		}
		if o.TheirsLabel == "theirs" {
			o.TheirsLabel = string(RoleDestination)
		}
	}
	parts := max(so.Partitions, 1)
	sp := &spiller{dir: so.TmpDir, seed: maphash.MakeSeed()}
	defer sp.removeAll()

	// Pass 1 reads the inputs: side totals, currency, and records with a
	// transaction id partitioned by it (the rest straight to pass 2).
	rep := &Report{Mode: "external", Period: o.Period, Currency: o.Currency, OursLabel: o.OursLabel,
		TheirsLabel: o.TheirsLabel, Tolerance: max(o.Tolerance, 0), Skew: o.Skew}
	if so.Internal {
		rep.Mode, rep.DurationsOnly = "internal", true
	}
	seenTxRole := newIDSet()
	// Records with an id wait in one file until the inputs are read:
	// across networks pass 1 pairs one side's peer id with the other's
	// own id, which no single hash key co-locates, so then pass 1 matches
	// them as one partition (memory: the records with ids); otherwise
	// they are partitioned by transaction id.
	ids := &pass{parts: make([][2]*spillFile, 1)}
	rest := &pass{parts: make([][2]*spillFile, 1)}
	sawPeer := false
	var sideTotals [2]sideCount
	read := func(src CDRSource, side int) error {
		var errs lineErrors
		var c CDR
		for {
			err := src(&c)
			if err == io.EOF {
				break
			}
			var re *RowError
			if errors.As(err, &re) {
				for _, fe := range re.Errors {
					errs.add(fe.Line, fe.Field, fe.Value, fe.Err)
				}
				continue
			}
			if err != nil {
				return err
			}
			if !so.Period.Contains(c.ConnectTime) {
				continue
			}
			s := side
			if so.Internal {
				// As ReconcileInternal: durations only (both roles' amounts
				// are ours), one record per transaction and role.
				c.Amount, c.HasBillable, c.BillableSeconds = money.Amount{}, false, 0
				if c.TransactionID != "" && !seenTxRole.add(c.TransactionID+"\x00"+string(c.Role)) {
					continue
				}
				switch c.Role {
				case RoleSource:
					s = 0
				case RoleDestination:
					s = 1
				default:
					errs.add(c.Line, FieldRole, "", fmt.Errorf("%w: internal reconciliation needs a role (source or destination)", ErrBadInput))
					continue
				}
			}
			if cur := c.Amount.Currency(); cur != "" {
				if rep.Currency == "" {
					rep.Currency = cur
				} else if cur != rep.Currency {
					return fmt.Errorf("%w: line %d is in %s, reconciling in %s", money.ErrCurrencyMismatch, c.Line, cur, rep.Currency)
				}
			}
			if err := sideTotals[s].add(&c); err != nil {
				return err
			}
			dst := rest
			if c.TransactionID != "" || c.PeerTransactionID != "" {
				dst = ids
				sawPeer = sawPeer || c.PeerTransactionID != ""
			}
			if err := sp.write(dst, 0, s, &c); err != nil {
				return err
			}
		}
		if errs.count() > 0 {
			return &CDRError{Errors: errs.Errors, Omitted: errs.Omitted}
		}
		return nil
	}
	if err := read(ours, 0); err != nil {
		return nil, err
	}
	if theirs != nil {
		if err := read(theirs, 1); err != nil {
			return nil, err
		}
	}
	in := ids
	if !sawPeer && parts > 1 {
		in = &pass{parts: make([][2]*spillFile, parts)}
		for s := 0; s < 2; s++ {
			err := sp.each(ids, 0, s, func(c *CDR) error {
				return sp.write(in, sp.part(c.TransactionID, "", parts), s, c)
			})
			if err != nil {
				return nil, err
			}
		}
		sp.drop(ids)
	}

	// Matches go to one spill file per class, so the report lists them in
	// class order whatever the partition order.
	var classFiles [5]*spillFile
	defer func() {
		for _, f := range classFiles {
			f.remove()
		}
	}()
	b := newReportBuilder(rep, o, func(m *Match) error {
		k := classIndex(m.Class)
		if classFiles[k] == nil {
			f, err := newSpillFile(so.TmpDir, "ospnode-reconcile-class-*")
			if err != nil {
				return err
			}
			classFiles[k] = f
		}
		return classFiles[k].writeMatch(m)
	})
	for s := range sideTotals {
		t := &rep.Ours
		if s == 1 {
			t = &rep.Theirs
		}
		if err := sideTotals[s].into(t, rep.Currency); err != nil {
			return nil, err
		}
	}

	// Pass 1 partitions by transaction id; leftovers join the records
	// without one. Pass 2: Call-ID. Pass 3: calling+called, the last, whose
	// leftovers are the one-sided classes.
	keyOf := [3]func(*CDR) (string, string, bool){
		func(c *CDR) (string, string, bool) { return c.TransactionID, "", c.TransactionID != "" },
		func(c *CDR) (string, string, bool) { return c.CallID, "", c.CallID != "" },
		func(c *CDR) (string, string, bool) { return c.Calling, c.Called, true },
	}
	for step := 0; step < 3; step++ {
		last := step == 2
		if step > 0 {
			// rest holds everything still unmatched: partition it by this
			// pass's key; records without one wait in the new rest.
			in = &pass{parts: make([][2]*spillFile, parts)}
			next := &pass{parts: make([][2]*spillFile, 1)}
			for s := 0; s < 2; s++ {
				err := sp.each(rest, 0, s, func(c *CDR) error {
					k1, k2, ok := keyOf[step](c)
					if !ok {
						return sp.write(next, 0, s, c)
					}
					return sp.write(in, sp.part(k1, k2, parts), s, c)
				})
				if err != nil {
					return nil, err
				}
			}
			sp.drop(rest)
			rest = next
		}
		// Match each partition in memory; unmatched records join rest.
		for p := range in.parts {
			var side [2][]CDR
			for s := 0; s < 2; s++ {
				err := sp.each(in, p, s, func(c *CDR) error {
					side[s] = append(side[s], *c)
					return nil
				})
				if err != nil {
					return nil, err
				}
				// File order, as Reconcile sees it (rest mixes records
				// that lacked a key with leftovers of partitions).
				slices.SortStableFunc(side[s], func(x, y CDR) int { return x.Line - y.Line })
			}
			sp.dropPart(in, p)
			if err := matchPartition(b, side[0], side[1], o.Skew, func(s int, c *CDR) error {
				return sp.write(rest, 0, s, c)
			}); err != nil {
				return nil, err
			}
		}
		if !last {
			continue
		}
		// What the last pass left unmatched is one-sided, ours first, each
		// side in file order.
		for s := 0; s < 2; s++ {
			class := ClassOursOnly
			if s == 1 {
				class = ClassTheirsOnly
			}
			err := sp.each(rest, 0, s, func(c *CDR) error {
				m := Match{Class: class}
				if s == 0 {
					m.Ours = c
				} else {
					m.Theirs = c
				}
				return b.add(&m)
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	if so.Start != nil {
		if err := so.Start(rep); err != nil {
			return nil, err
		}
	}
	// Hand the matches on in class order.
	for _, f := range classFiles {
		if f == nil {
			continue
		}
		r, err := f.reader()
		if err != nil {
			return nil, err
		}
		for {
			var m Match
			err := r.match(&m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if so.Sink != nil {
				err = so.Sink(&m)
			} else {
				rep.Matches = append(rep.Matches, m)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return rep, nil
}

// matchPartition pairs one partition with match (Reconcile's three
// passes; within a partition of one key, only that key can pair) and adds
// the pairs to b. Unpaired records go to leftover, ours first, in file
// order.
func matchPartition(b *reportBuilder, ours, theirs []CDR, skew time.Duration, leftover func(side int, c *CDR) error) error {
	pairOf := match(ours, theirs, skew)
	matched := make([]bool, len(theirs))
	var only []int
	for i := range ours {
		j := pairOf[i].theirs
		if j < 0 {
			only = append(only, i)
			continue
		}
		matched[j] = true
		m, err := b.pair(&ours[i], &theirs[j], pairOf[i].key)
		if err != nil {
			return err
		}
		if err := b.add(&m); err != nil {
			return err
		}
	}
	for _, i := range only {
		if err := leftover(0, &ours[i]); err != nil {
			return err
		}
	}
	for j := range theirs {
		if !matched[j] {
			if err := leftover(1, &theirs[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

func classIndex(c Class) int {
	for i, x := range Classes {
		if x == c {
			return i
		}
	}
	return 0
}

// sideCount totals one side while it is read (Report.Ours/Theirs).
type sideCount struct {
	calls, rated int
	seconds      int64
	amount       money.Amount
}

func (s *sideCount) add(c *CDR) error {
	s.calls++
	s.seconds += c.Billable()
	if !c.Rated() {
		return nil
	}
	s.rated++
	if s.amount.Currency() == "" {
		s.amount = c.Amount
		return nil
	}
	var err error
	s.amount, err = s.amount.Add(c.Amount)
	return err
}

func (s *sideCount) into(t *Totals, cur string) error {
	t.Calls, t.Rated, t.Seconds, t.Amount = s.calls, s.rated, s.seconds, money.Zero(cur)
	if s.amount.Currency() == "" {
		return nil
	}
	var err error
	t.Amount, err = t.Amount.Add(s.amount)
	return err
}

// pass is one pass's partition files: parts[p][side].
type pass struct {
	parts [][2]*spillFile
}

// spiller creates, fills, reads and removes partition files.
type spiller struct {
	dir  string
	seed maphash.Seed
	all  []*spillFile
}

func (sp *spiller) part(k1, k2 string, parts int) int {
	if parts == 1 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(sp.seed)
	h.WriteString(k1)
	h.WriteByte(0)
	h.WriteString(k2)
	return int(h.Sum64() % uint64(parts))
}

func (sp *spiller) write(ps *pass, p, side int, c *CDR) error {
	f := ps.parts[p][side]
	if f == nil {
		var err error
		if f, err = newSpillFile(sp.dir, "ospnode-reconcile-*"); err != nil {
			return err
		}
		ps.parts[p][side] = f
		sp.all = append(sp.all, f)
	}
	return f.write(c)
}

// each calls fn for every record of one partition side, in write order.
func (sp *spiller) each(ps *pass, p, side int, fn func(*CDR) error) error {
	f := ps.parts[p][side]
	if f == nil {
		return nil
	}
	r, err := f.reader()
	if err != nil {
		return err
	}
	var c CDR
	for {
		err := r.cdr(&c)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
	}
}

func (sp *spiller) dropPart(ps *pass, p int) {
	for s := 0; s < 2; s++ {
		ps.parts[p][s].remove()
		ps.parts[p][s] = nil
	}
}

func (sp *spiller) drop(ps *pass) {
	for p := range ps.parts {
		sp.dropPart(ps, p)
	}
}

func (sp *spiller) removeAll() {
	for _, f := range sp.all {
		f.remove()
	}
}
