package settlement

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ospnode/ospnode/ledger/money"
)

// Reasons a record is rejected. They are short and stable, so a summary
// can count rejects by reason; the RowError's FieldErrors say the detail.
// A field that does not parse is "bad " + the CDR field name (e.g. "bad
// connect_time"), one reason per field.
const (
	ReasonMalformed   = "malformed CSV"
	ReasonExtraFields = "extra fields"
	ReasonNoVersion   = "no deck version in force"
	ReasonNoPrefix    = "no matching prefix"
	ReasonBadNumber   = "called number not E.164"
	ReasonCurrency    = "currency mismatch"
	ReasonDuplicate   = "duplicate transaction id"
	ReasonNotRated    = "not rated"
)

// RowError is one record that cannot be used, and why. CDRReader.Next
// returns it for a bad record and carries on with the next one; the
// streaming rater returns it for a record it cannot price. errors.Is(err,
// ErrBadInput) holds.
type RowError struct {
	Line   int
	Reason string       // one of the Reason* constants, or "bad FIELD"
	Errors []FieldError // the detail: at least one
}

func (e *RowError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return strings.Join(parts, "; ")
}

// Detail is the error text without the line number (rejects files have a
// line column of their own).
func (e *RowError) Detail() string {
	parts := make([]string, 0, len(e.Errors))
	for _, fe := range e.Errors {
		if fe.Field == "" {
			parts = append(parts, fe.Err.Error())
			continue
		}
		v := fe.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		parts = append(parts, fmt.Sprintf("field %s (%q): %v", fe.Field, v, fe.Err))
	}
	if len(parts) == 0 {
		return e.Reason
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrBadInput) hold.
func (e *RowError) Is(target error) bool { return target == ErrBadInput }

// Unwrap returns the field errors, so errors.Is finds their causes
// (money.ErrCurrencyMismatch, ErrTooLarge, ErrNoVersion …).
func (e *RowError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe
	}
	return out
}

func rowErr(line int, reason, field, value string, err error) *RowError {
	return &RowError{Line: line, Reason: reason, Errors: []FieldError{{Line: line, Field: field, Value: value, Err: err}}}
}

// CDRReader reads a CDR CSV one record at a time, in memory that does not
// depend on the file's length: the streaming counterpart of ReadCDRs, and
// what ReadCDRs is built on. Columns are found by header name (through the
// format's ColumnMap), in any order; the CDR field set is defined once, by
// the Field* constants. Not safe for concurrent use.
type CDRReader struct {
	src  *csvSource
	f    CDRFormat
	cols [numCDRFields]int // column of each cdrFields entry, -1 = absent
	name [numCDRFields]string
	rec  []string
	line int
}

const numCDRFields = 15

// NewCDRReader reads the header line of r and checks the format: required
// columns called, connect_time and duration; amounts need a currency column
// or a default currency; every currency is an ISO 4217 code. A bad header or
// format is a *CDRError (line 1) or an error wrapping ErrBadInput.
func NewCDRReader(r io.Reader, f CDRFormat) (*CDRReader, error) {
	if f.DurationUnit == "" {
		f.DurationUnit = "s"
	}
	if f.DurationUnit != "s" && f.DurationUnit != "ms" {
		return nil, fmt.Errorf("%w: duration unit %q (want s or ms)", ErrBadInput, f.DurationUnit)
	}
	if f.Currency != "" && !ISOCurrency(f.Currency) {
		return nil, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrBadInput, f.Currency)
	}
	maxLine := f.MaxLineBytes
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	cr := &CDRReader{src: newCSVSource(r, maxLine), f: f}
	if err := cr.src.readHeader(); err != nil {
		return nil, cdrErr(err)
	}
	var errs lineErrors
	for k, fl := range cdrFields {
		name := f.Columns.column(fl)
		i, ok := cr.src.header[name]
		if name == "-" || !ok {
			i = -1
		}
		cr.cols[k], cr.name[k] = i, name
		if i < 0 && (fl == FieldCalled || fl == FieldConnectTime || fl == FieldDuration) {
			errs.add(1, fl, name, fmt.Errorf("%w: missing column %q (header has %s)", ErrBadInput, name, strings.Join(cr.src.names, ",")))
		}
	}
	if errs.count() > 0 {
		return nil, &CDRError{Errors: errs.Errors, Omitted: errs.Omitted}
	}
	if cr.cols[fAmount] >= 0 && cr.cols[fCurrency] < 0 && f.Currency == "" {
		return nil, &CDRError{Errors: []FieldError{{Line: 1, Field: FieldAmount,
			Err: fmt.Errorf("%w: amounts need a currency column or a default currency", ErrBadInput)}}}
	}
	return cr, nil
}

// Indexes into cdrFields (the order of the Field* list there).
const (
	fTransactionID = iota
	fCallID
	fCalling
	fCalled
	fConnectTime
	fDuration
	fRole
	fCounterparty
	fBillable
	fAmount
	fCurrency
	fPrefix
	fDescription
	fNetwork
	fPeerTransactionID
)

// Header returns the header line's column names, lower-cased.
func (r *CDRReader) Header() []string { return r.src.names }

// Record returns the raw fields of the record Next last read, good or bad
// (valid until the next call to Next), so a rejects file can keep it.
func (r *CDRReader) Record() []string { return r.rec }

// Line returns the line number of the record Next last read.
func (r *CDRReader) Line() int { return r.line }

// Next reads the next record into c (which it overwrites). It returns nil
// for a good record; a *RowError for a bad one — the reader has moved past
// it, call Next again; io.EOF at the end of the file; any other error ends
// the file: a line over the byte limit (wrapping ErrTooLarge; the rest of
// the file cannot be read safely) or a read error. The TOTAL trailer line
// `settle rate` writes is skipped.
func (r *CDRReader) Next(c *CDR) error {
	*c = CDR{}
	for {
		rec, line, err := r.src.next()
		if err == io.EOF {
			r.rec, r.line = nil, 0
			return io.EOF
		}
		if err != nil {
			var fe FieldError
			if !errors.As(err, &fe) {
				return err
			}
			r.rec, r.line = nil, fe.Line
			if errors.Is(err, ErrTooLarge) {
				r.src.stoppedTooLarge = true
				return fmt.Errorf("line %d: %w", fe.Line, fe.Err)
			}
			return &RowError{Line: fe.Line, Reason: ReasonMalformed, Errors: []FieldError{fe}}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		r.rec, r.line = rec, line
		if field(rec, 0) == TotalMarker && field(rec, r.cols[fCalled]) == "" {
			continue // the trailer `ospnode settle rate` writes
		}
		return r.parse(c, rec, line)
	}
}

func (r *CDRReader) parse(c *CDR, rec []string, line int) error {
	if len(rec) > len(r.src.names) {
		return rowErr(line, ReasonExtraFields, "", "",
			fmt.Errorf("%w: %d fields, the header has %d", ErrBadInput, len(rec), len(r.src.names)))
	}
	get := func(k int) string { return field(rec, r.cols[k]) }
	*c = CDR{
		TransactionID: get(fTransactionID), CallID: get(fCallID),
		Calling: get(fCalling), Called: get(fCalled),
		Counterparty: get(fCounterparty), Line: line,
		Prefix: get(fPrefix), Description: get(fDescription),
		Network: get(fNetwork), PeerTransactionID: get(fPeerTransactionID),
	}
	var bad *RowError
	fail := func(k int, value string, err error) {
		fe := FieldError{Line: line, Field: r.name[k], Value: value, Err: err}
		if bad == nil {
			bad = &RowError{Line: line, Reason: "bad " + cdrFields[k]}
		}
		bad.Errors = append(bad.Errors, fe)
	}
	if max(len(c.TransactionID), len(c.CallID), len(c.Calling), len(c.Called), len(c.Counterparty),
		len(c.Prefix), len(c.Description), len(c.Network), len(c.PeerTransactionID)) > 256 {
		for _, k := range [...]int{fTransactionID, fCallID, fCalling, fCalled, fCounterparty, fPrefix, fDescription, fNetwork, fPeerTransactionID} {
			if s := get(k); len(s) > 256 {
				fail(k, s, fmt.Errorf("%w: longer than 256 bytes", ErrBadInput))
			}
		}
	}
	if c.Called == "" {
		fail(fCalled, "", fmt.Errorf("%w: empty", ErrBadInput))
	}
	s := get(fConnectTime)
	t, err := parseTime(s, r.f.TimeLayout, r.f.Location)
	if err != nil {
		fail(fConnectTime, s, err)
	}
	c.ConnectTime = t.UTC()
	s = get(fDuration)
	ms, err := parseMillis(s, r.f.DurationUnit)
	if err == nil && ms > maxDurationMillis {
		err = fmt.Errorf("%w: duration over 100 days", ErrBadInput)
	}
	if err != nil {
		fail(fDuration, s, err)
	}
	c.DurationMillis = ms
	if s := get(fRole); s != "" {
		switch Role(strings.ToLower(s)) {
		case RoleSource, "src", "orig", "originating":
			c.Role = RoleSource
		case RoleDestination, "dst", "dest", "term", "terminating":
			c.Role = RoleDestination
		default:
			fail(fRole, s, fmt.Errorf("%w: want source or destination", ErrBadInput))
		}
	}
	if s := get(fBillable); s != "" {
		n, err := parseInt(s)
		if err != nil || n > maxDurationMillis/1000 {
			fail(fBillable, s, fmt.Errorf("%w: want whole seconds", ErrBadInput))
		}
		c.BillableSeconds, c.HasBillable = n, true
	}
	cur := strings.ToUpper(get(fCurrency))
	if cur != "" && !ISOCurrency(cur) {
		fail(fCurrency, cur, fmt.Errorf("%w: not an ISO 4217 currency code", ErrBadInput))
		cur = ""
	}
	c.Currency = cur
	if s := get(fAmount); s != "" {
		if cur == "" {
			cur = r.f.Currency
		}
		a, err := money.New(s, cur)
		if err != nil {
			fail(fAmount, s+" "+cur, fmt.Errorf("%w: %w", ErrBadInput, err))
		}
		c.Amount, c.Currency = a, cur
	}
	if bad != nil {
		return bad
	}
	return nil
}

// ISOCurrency reports whether code is an ISO 4217 alphabetic code of the
// embedded table (money.ValidCurrency only checks the shape: three capitals).
func ISOCurrency(code string) bool {
	_, ok := MinorUnit(code)
	return ok
}
