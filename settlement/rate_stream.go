package settlement

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
)

// RateSummary totals a streaming rating run: what was rated, what was
// rejected and why. Nothing is left out: Rated + Rejected.Count is every record of
// the file (blank lines and the TOTAL trailer are not records).
type RateSummary struct {
	Rated           int64
	BillableSeconds int64
	// Amount is the exact sum of the rated amounts, in the deck currency
	// with the deck's decimals even when nothing was rated ("0.0000").
	Amount   money.Amount
	Rejected RejectTally
}

// RejectTally counts rejected records by reason. The zero value is ready.
type RejectTally struct {
	Count    int64
	byReason map[string]int64
}

// Add counts e.
func (t *RejectTally) Add(e *RowError) {
	if t.byReason == nil {
		t.byReason = map[string]int64{}
	}
	t.Count++
	t.byReason[e.Reason]++
}

// ReasonCount is how many records were rejected for one reason.
type ReasonCount struct {
	Reason string
	Count  int64
}

// Reasons returns the reject counts, most frequent first (then by name).
func (t *RejectTally) Reasons() []ReasonCount {
	out := make([]ReasonCount, 0, len(t.byReason))
	for r, n := range t.byReason {
		out = append(out, ReasonCount{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// RateStreamOptions are the sinks and settings of RateStream.
type RateStreamOptions struct {
	// Counterparty is stamped on records that have none.
	Counterparty string
	// Rated receives each rated record (billable seconds, amount, prefix
	// and description filled in); Reject each record that cannot be rated,
	// with the raw fields the reader read (nil for a line the CSV reader
	// could not split). The record and fields are reused after the call
	// returns. An error from either ends the run with that error. Either
	// may be nil.
	Rated  func(*CDR) error
	Reject func(e *RowError, fields []string) error
	// ExpectedRecords, when > 0, is about how many records the file
	// holds (e.g. its size over the length of its first lines): the
	// duplicate check sizes its table for that many ids up front instead
	// of growing it (newIDSetFor). Only speed and memory depend on it,
	// never the result: a low guess grows as before, a high one costs
	// ~11 bytes per record it overshoots.
	ExpectedRecords int64
}

// RateStream rates every record of in with r, in file order (reading a
// batch of 32 ahead: DESIGN.md, "Read-ahead"): memory does
// not depend on the number of records except for the set of transaction
// ids seen (idSet: ~11 bytes per distinct id), which rejects a second record
// with an id already rated or rejected ("duplicate transaction id"). A
// record is rejected, never priced at 0, when it does not parse, when its
// currency column is not the deck's (the deck's rates were converted to it
// by ReadDeckCSV with an explicit rate, or not at all), or when the deck
// cannot rate it (no version in force at connect_time, no matching prefix,
// a called number that is not E.164).
//
// The error is nil when the file was read to its end, whatever was
// rejected (see the summary); otherwise it is a read error, a line over
// the byte limit (wrapping ErrTooLarge), or a sink's error, and the summary
// covers the records before it.
func RateStream(in *CDRReader, r *Rater, opts RateStreamOptions) (*RateSummary, error) {
	total, err := zeroAmount(r.currency, r.decimals)
	if err != nil {
		return nil, err
	}
	s := &RateSummary{Amount: total}
	in.src.shared = true // records do not outlive their batch
	st := rateState{in: in, r: r, opts: opts, s: s, seen: newIDSetFor(opts.ExpectedRecords)}
	batch := make([]pendingCDR, rateBatch)
	for {
		n, end := st.readBatch(batch)
		for i := range batch[:n] {
			if err := st.process(&batch[i]); err != nil {
				return s, st.finish(err)
			}
		}
		if end != nil {
			if end == io.EOF {
				end = nil
			}
			return s, st.finish(end)
		}
	}
}

// rateBatch is how many records RateStream reads ahead of the one it rates:
// enough for the duplicate check's cache misses on one batch to overlap
// (see idSet.touch), few enough to stay in the L1 cache.
const rateBatch = 32

// pendingCDR is one record read ahead: the parsed record, the reader's
// verdict on it (nil or a *RowError) and its raw fields, copied because the
// reader reuses its record slice.
type pendingCDR struct {
	c      CDR
	bad    *RowError
	fields []string // nil when the reader had none (a malformed line)
	buf    []string
	idHash uint64 // seen.hash(c.TransactionID); 0 without an id
	hint   rowHint
}

// rateState is one RateStream run. The records are processed strictly in
// file order, exactly as one at a time; reading a batch ahead only lets the
// duplicate check's table lookups start early.
type rateState struct {
	in     *CDRReader
	r      *Rater
	opts   RateStreamOptions
	s      *RateSummary
	seen   *idSet
	touch  uint64 // folds idSet.touch's and Rater.warm's loads, so they are not optimised away
	warmer deckWarmer
	// units sums the rated amounts written with the deck's decimals, as
	// whole units of 10^-decimals (every amount Rate returns is): an
	// integer addition per record instead of an apd one. finish adds it to
	// s.Amount, which holds anything else (and anything past int64).
	units int64
}

// readBatch reads up to len(batch) records and starts their duplicate-check
// lookups and deck walks (Rater.warm). end is io.EOF or the error that ends
// the file, after the n records read before it.
func (st *rateState) readBatch(batch []pendingCDR) (n int, end error) {
	calls := st.warmer.calls[:0]
	for n < len(batch) {
		p := &batch[n]
		err := st.in.Next(&p.c)
		p.bad = nil
		if err != nil && !errors.As(err, &p.bad) {
			end = err
			break
		}
		p.fields = nil
		if rec := st.in.Record(); rec != nil {
			p.buf = append(p.buf[:0], rec...)
			p.fields = p.buf
		}
		p.idHash = 0
		if p.c.TransactionID != "" {
			p.idHash = st.seen.hash(p.c.TransactionID)
		}
		p.hint = rowHint{}
		if p.bad == nil {
			calls = append(calls, warmCall{number: warmNumber(p.c.Called), v: st.r.warmVersion(p.c.ConnectTime), found: &p.hint})
		}
		n++
	}
	// The loads of a batch in one tight loop each, nothing between them:
	// interleaved with parsing, each miss would stall the parse after it.
	for i := range batch[:n] {
		if h := batch[i].idHash; h != 0 {
			st.touch += st.seen.touch(h)
		}
	}
	st.warmer.calls = calls
	st.touch += st.r.warm(&st.warmer)
	return n, end
}

// process rates one record read ahead, or rejects it, and feeds the sinks.
func (st *rateState) process(p *pendingCDR) error {
	c, re, s := &p.c, p.bad, st.s
	if re == nil {
		re = rateOne(c, st.r, st.in, st.seen, p.idHash, p.hint, st.opts.Counterparty)
	} else if p.idHash != 0 {
		st.seen.addHash(p.idHash) // a bad record still claims its id
	}
	if re != nil {
		s.Rejected.Add(re)
		if st.opts.Reject != nil {
			return st.opts.Reject(re, p.fields)
		}
		return nil
	}
	s.Rated++
	s.BillableSeconds += c.BillableSeconds
	if err := st.addAmount(c.Amount); err != nil {
		return err
	}
	if st.opts.Rated != nil {
		return st.opts.Rated(c)
	}
	return nil
}

// addAmount adds a rated amount to the run's total, exactly.
func (st *rateState) addAmount(a money.Amount) error {
	if u, ok := a.Units(-st.r.decimals); ok && u >= 0 && st.units <= math.MaxInt64-u {
		st.units += u
		return nil
	}
	var err error
	st.s.Amount, err = st.s.Amount.Add(a)
	return err
}

// finish folds the integer sum into the summary's Amount and returns err
// (or the fold's error when err is nil).
func (st *rateState) finish(err error) error {
	st.seen.sink ^= st.touch
	if st.units == 0 {
		return err
	}
	var d apd.Decimal
	d.SetFinite(st.units, -st.r.decimals)
	a, ferr := money.FromDecimal(&d, st.r.currency)
	if ferr == nil {
		a, ferr = st.s.Amount.Add(a)
	}
	if ferr == nil {
		st.s.Amount, st.units = a, 0
	}
	if err == nil {
		err = ferr
	}
	return err
}

// rateOne checks and rates one parsed record in place.
// idHash is seen.hash(c.TransactionID), 0 when the record has no id.
func rateOne(c *CDR, r *Rater, in *CDRReader, seen *idSet, idHash uint64, hint rowHint, counterparty string) *RowError {
	if idHash != 0 && !seen.addHash(idHash) {
		return rowErr(c.Line, ReasonDuplicate, in.name[fTransactionID], c.TransactionID,
			fmt.Errorf("%w: an earlier record of this file (rated or rejected) has this transaction id; only the first counts", ErrBadInput))
	}
	if c.Currency != "" && c.Currency != r.currency {
		return rowErr(c.Line, ReasonCurrency, in.name[fCurrency], c.Currency,
			fmt.Errorf("%w: record in %s, the run rates in %s", money.ErrCurrencyMismatch, c.Currency, r.currency))
	}
	rated, err := r.rate(c.Called, c.ConnectTime, c.DurationMillis, hint)
	if err != nil {
		switch {
		case errors.Is(err, ErrNoVersion):
			return rowErr(c.Line, ReasonNoVersion, in.name[fConnectTime], c.ConnectTime.Format("2006-01-02T15:04:05.000Z07:00"), err)
		case errors.Is(err, ErrNoPrefix):
			return rowErr(c.Line, ReasonNoPrefix, in.name[fCalled], c.Called, err)
		case errors.Is(err, ErrBadNumber):
			return rowErr(c.Line, ReasonBadNumber, in.name[fCalled], c.Called, err)
		}
		return rowErr(c.Line, "bad "+FieldDuration, in.name[fDuration], FormatMillis(c.DurationMillis), err)
	}
	c.BillableSeconds, c.HasBillable, c.Amount = rated.BillableSeconds, true, rated.Amount
	c.Currency = rated.Amount.Currency()
	c.Prefix, c.Description = rated.Prefix, rated.Description
	if c.Counterparty == "" {
		c.Counterparty = counterparty
	}
	return nil
}
