package settlement

import (
	"errors"
	"fmt"
	"io"
	"sort"

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
}

// RateStream rates every record of in with r, one at a time: memory does
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
	seen := newIDSet()
	var c CDR
	for {
		err := in.Next(&c)
		if err == io.EOF {
			return s, nil
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			return s, err
		}
		if re == nil {
			re = rateOne(&c, r, in, seen, opts.Counterparty)
		} else if c.TransactionID != "" {
			seen.add(c.TransactionID) // a bad record still claims its id
		}
		if re != nil {
			s.Rejected.Add(re)
			if opts.Reject != nil {
				if err := opts.Reject(re, in.Record()); err != nil {
					return s, err
				}
			}
			continue
		}
		s.Rated++
		s.BillableSeconds += c.BillableSeconds
		if s.Amount, err = s.Amount.Add(c.Amount); err != nil {
			return s, err
		}
		if opts.Rated != nil {
			if err := opts.Rated(&c); err != nil {
				return s, err
			}
		}
	}
}

// rateOne checks and rates one parsed record in place.
func rateOne(c *CDR, r *Rater, in *CDRReader, seen *idSet, counterparty string) *RowError {
	if c.TransactionID != "" && !seen.add(c.TransactionID) {
		return rowErr(c.Line, ReasonDuplicate, in.name[fTransactionID], c.TransactionID,
			fmt.Errorf("%w: an earlier record of this file (rated or rejected) has this transaction id; only the first counts", ErrBadInput))
	}
	if c.Currency != "" && c.Currency != r.currency {
		return rowErr(c.Line, ReasonCurrency, in.name[fCurrency], c.Currency,
			fmt.Errorf("%w: record in %s, the run rates in %s", money.ErrCurrencyMismatch, c.Currency, r.currency))
	}
	rated, err := r.Rate(c.Called, c.ConnectTime, c.DurationMillis)
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
