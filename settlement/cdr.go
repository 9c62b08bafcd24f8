package settlement

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// Role says which side of a call reported a CDR.
type Role string

const (
	// RoleSource: the originating side (the member that sent the call).
	RoleSource Role = "source"
	// RoleDestination: the terminating side.
	RoleDestination Role = "destination"
)

// CDR is one call detail record as settlement sees it: ours from the ledger,
// or a counterparty's read from CSV. Billable seconds and amount are optional
// (a partner may send only durations); HasBillable and Amount.Currency() say
// whether they are present.
type CDR struct {
	TransactionID  string // the OSP transaction id, when known
	CallID         string // SIP Call-ID
	Calling        string
	Called         string
	ConnectTime    time.Time
	DurationMillis int64 // duration as reported, in milliseconds
	Role           Role
	Counterparty   string
	// BillableSeconds is valid when HasBillable.
	BillableSeconds int64
	HasBillable     bool
	// Amount is the rated cost; the zero Amount (no currency) means unrated.
	Amount money.Amount
	// Currency is the record's currency column (an ISO 4217 code, checked),
	// also when it has no amount: the currency the record expects to be
	// priced in. Amount's currency when it has an amount; "" if none given.
	Currency string `json:"-"`
	// Prefix and Description: the deck row that rated the call, when known
	// (statements group by them).
	Prefix      string
	Description string
	// Line is the 1-based line of the CSV the record came from (0 if none);
	// reports cite it so a person can find the record.
	Line int
}

// Rated reports whether the CDR carries an amount.
func (c *CDR) Rated() bool { return c.Amount.Currency() != "" }

// Billable returns BillableSeconds when present, else the duration rounded up
// to whole seconds (what a partner without increments would bill).
func (c *CDR) Billable() int64 {
	if c.HasBillable {
		return c.BillableSeconds
	}
	s, _ := WholeSeconds(c.DurationMillis, DurationUp)
	return s
}

// CDR field names, used as the keys of a ColumnMap and as the default header.
const (
	FieldTransactionID   = "transaction_id"
	FieldCallID          = "call_id"
	FieldCalling         = "calling"
	FieldCalled          = "called"
	FieldConnectTime     = "connect_time"
	FieldDuration        = "duration"
	FieldRole            = "role"
	FieldCounterparty    = "counterparty"
	FieldBillableSeconds = "billable_seconds"
	FieldAmount          = "amount"
	FieldCurrency        = "currency"
	FieldPrefix          = "prefix"
	FieldDescription     = "description"
)

// ColumnMap names, for each CDR field, the column of a carrier's CSV that
// holds it ("" = the field's own name, "-" = absent). Every carrier exports
// differently, e.g. ColumnMap{TransactionID: "txn_id", Called: "dst"}.
type ColumnMap struct {
	TransactionID   string
	CallID          string
	Calling         string
	Called          string
	ConnectTime     string
	Duration        string
	Role            string
	Counterparty    string
	BillableSeconds string
	Amount          string
	Currency        string
	Prefix          string
	Description     string
}

// ParseColumnMap parses "field=column,field=column" (e.g.
// "transaction_id=txn_id,called=dst,duration=secs"); field names are the
// Field* constants. Unknown fields wrap ErrBadInput.
func ParseColumnMap(s string) (ColumnMap, error) {
	var m ColumnMap
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.ToLower(strings.TrimSpace(v))
		if !ok || v == "" {
			return m, fmt.Errorf("%w: column map entry %q (want field=column)", ErrBadInput, kv)
		}
		p := m.ptr(k)
		if p == nil {
			return m, fmt.Errorf("%w: column map: unknown field %q (want one of %s)", ErrBadInput, k, strings.Join(cdrFields[:], ", "))
		}
		*p = v
	}
	return m, nil
}

// cdrFields is the one list of CDR fields: ColumnMap keys, CDRReader's
// column lookup (by the f* indexes) and CDRHeader follow it.
var cdrFields = [numCDRFields]string{FieldTransactionID, FieldCallID, FieldCalling, FieldCalled, FieldConnectTime,
	FieldDuration, FieldRole, FieldCounterparty, FieldBillableSeconds, FieldAmount, FieldCurrency,
	FieldPrefix, FieldDescription}

func (m *ColumnMap) ptr(field string) *string {
	switch field {
	case FieldTransactionID:
		return &m.TransactionID
	case FieldCallID:
		return &m.CallID
	case FieldCalling:
		return &m.Calling
	case FieldCalled:
		return &m.Called
	case FieldConnectTime:
		return &m.ConnectTime
	case FieldDuration:
		return &m.Duration
	case FieldRole:
		return &m.Role
	case FieldCounterparty:
		return &m.Counterparty
	case FieldBillableSeconds:
		return &m.BillableSeconds
	case FieldAmount:
		return &m.Amount
	case FieldCurrency:
		return &m.Currency
	case FieldPrefix:
		return &m.Prefix
	case FieldDescription:
		return &m.Description
	}
	return nil
}

// column returns the CSV column name for field.
func (m ColumnMap) column(field string) string {
	if p := m.ptr(field); p != nil && *p != "" {
		return strings.ToLower(*p)
	}
	return field
}

// CDRFormat describes a carrier's CDR CSV.
type CDRFormat struct {
	Columns ColumnMap
	// TimeLayout for connect_time: a Go layout, "unix", "unixms", or "" for
	// RFC 3339 / "2006-01-02 15:04:05[.000]". Location applies to values
	// without a zone (nil = UTC).
	TimeLayout string
	Location   *time.Location
	// DurationUnit: "s" (seconds, up to 3 decimals; the default) or "ms".
	DurationUnit string
	// Currency of amounts when the file has no currency column.
	Currency     string
	MaxRows      int // 0 = DefaultMaxRows
	MaxLineBytes int // 0 = DefaultMaxLine
}

// TotalMarker starts the trailer line `ospnode settle rate` appends
// (TOTAL,…,billable seconds, amount, currency); ReadCDRs skips such a line
// when its called column is empty, so rated files read back directly.
const TotalMarker = "TOTAL"

// ReadCDRs reads a whole CDR file into memory with a CDRReader. Required
// columns: called, connect_time and duration (through f.Columns); the rest
// are optional. A file with any bad line is rejected with a *CDRError naming
// each bad line and field (capped at MaxListedErrors, the rest counted);
// bounds as in ReadDeckCSV. Callers that must not hold the file (a month of
// traffic) read it with a CDRReader instead.
func ReadCDRs(r io.Reader, f CDRFormat) ([]CDR, error) {
	maxRows := f.MaxRows
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	cr, err := NewCDRReader(r, f)
	if err != nil {
		return nil, err
	}
	var out []CDR
	var errs lineErrors
	tooBig := false
	for {
		var c CDR
		err := cr.Next(&c)
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
			if !errors.Is(err, ErrTooLarge) {
				return nil, err
			}
			errs.add(cr.Line(), "", "", errors.Unwrap(err))
			tooBig = true
			break
		}
		if len(out) >= maxRows {
			errs.add(c.Line, "", "", fmt.Errorf("%w: more than %d rows", ErrTooLarge, maxRows))
			tooBig = true
			break
		}
		out = append(out, c)
	}
	if errs.count() > 0 {
		return nil, &CDRError{Errors: errs.Errors, Omitted: errs.Omitted, tooBig: tooBig}
	}
	return out, nil
}

func cdrErr(err error) error {
	var fe FieldError
	if errors.As(err, &fe) {
		return &CDRError{Errors: []FieldError{fe}, tooBig: errors.Is(err, ErrTooLarge)}
	}
	if errors.Is(err, ErrBadInput) {
		return &CDRError{Errors: []FieldError{{Line: 1, Err: err}}}
	}
	return err
}

// CDRHeader is the header WriteCDRs writes (the Field* names), which
// ReadCDRs reads back with an empty ColumnMap.
var CDRHeader = append([]string(nil), cdrFields[:]...)

// WriteCDRs writes cdrs as CSV with CDRHeader: times in RFC 3339 UTC with
// milliseconds, durations in seconds with 3 decimals, amounts in plain
// notation. Empty optional fields stay empty.
func WriteCDRs(w io.Writer, cdrs []CDR) error {
	cw, err := NewCDRWriter(w)
	if err != nil {
		return err
	}
	for i := range cdrs {
		if err := cw.Write(&cdrs[i]); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// CDRWriter writes CDRs one at a time in WriteCDRs' format (what
// CDRReader reads back with an empty ColumnMap). Not safe for concurrent
// use.
type CDRWriter struct {
	cw  *csv.Writer
	rec []string
}

// NewCDRWriter writes the header line (CDRHeader) to w.
func NewCDRWriter(w io.Writer) (*CDRWriter, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(CDRHeader); err != nil {
		return nil, err
	}
	return &CDRWriter{cw: cw, rec: make([]string, len(CDRHeader))}, nil
}

// Write writes one CDR.
func (w *CDRWriter) Write(c *CDR) error {
	cdrRecord(w.rec, c)
	return w.cw.Write(w.rec)
}

// WriteRaw writes one record as given (the TOTAL trailer).
func (w *CDRWriter) WriteRaw(rec []string) error { return w.cw.Write(rec) }

// Flush writes any buffered data and returns the first write error.
func (w *CDRWriter) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}

func cdrRecord(rec []string, c *CDR) {
	rec[0], rec[1], rec[2], rec[3] = c.TransactionID, c.CallID, c.Calling, c.Called
	rec[4] = c.ConnectTime.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	rec[5] = FormatMillis(c.DurationMillis)
	rec[6], rec[7] = string(c.Role), c.Counterparty
	rec[8], rec[9], rec[10] = "", "", ""
	rec[11], rec[12] = c.Prefix, c.Description
	if c.HasBillable {
		rec[8] = strconv.FormatInt(c.BillableSeconds, 10)
	}
	if c.Rated() {
		rec[9], rec[10] = c.Amount.Text(), c.Amount.Currency()
	}
}

// FormatMillis renders milliseconds as seconds with 3 decimals ("30.125").
func FormatMillis(ms int64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}
