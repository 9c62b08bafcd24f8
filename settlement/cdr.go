package settlement

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	TransactionID string // the OSP transaction id, when known
	// Network is the network whose TransactionID this is (the exporting
	// network's id, in files an ospnode network exports); "" when the file
	// does not say, as in a member's own CDRs, which carry the ids we
	// gave its proxies. Every network numbers its transactions itself, so
	// two networks' ids name two calls even when equal (Reconcile).
	Network string
	// PeerTransactionID is the id the counterparty network knows the call
	// by, when we know it: the upstream's TransactionId for a call we
	// forwarded to it. Reconcile pairs it with the counterparty's own
	// TransactionID.
	PeerTransactionID string
	CallID            string // SIP Call-ID
	Calling           string
	Called            string
	ConnectTime       time.Time
	DurationMillis    int64 // duration as reported, in milliseconds
	Role              Role
	Counterparty      string
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
	// FieldNetwork and FieldPeerTransactionID: whose numbering
	// transaction_id is, and the id the counterparty network knows the
	// call by (CDR.Network, CDR.PeerTransactionID).
	FieldNetwork           = "network"
	FieldPeerTransactionID = "peer_transaction_id"
)

// ColumnMap names, for each CDR field, the column of a carrier's CSV that
// holds it ("" = the field's own name, "-" = absent). Every carrier exports
// differently, e.g. ColumnMap{TransactionID: "txn_id", Called: "dst"}.
type ColumnMap struct {
	TransactionID     string
	CallID            string
	Calling           string
	Called            string
	ConnectTime       string
	Duration          string
	Role              string
	Counterparty      string
	BillableSeconds   string
	Amount            string
	Currency          string
	Prefix            string
	Description       string
	Network           string
	PeerTransactionID string
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
	FieldPrefix, FieldDescription, FieldNetwork, FieldPeerTransactionID}

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
	case FieldNetwork:
		return &m.Network
	case FieldPeerTransactionID:
		return &m.PeerTransactionID
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
// CDRReader reads back with an empty ColumnMap), quoting as encoding/csv
// does, without allocating per record. Not safe for concurrent use.
type CDRWriter struct {
	w   io.Writer
	buf []byte
}

// NewCDRWriter writes the header line (CDRHeader) to w.
func NewCDRWriter(w io.Writer) (*CDRWriter, error) {
	cw := &CDRWriter{w: w, buf: make([]byte, 0, 64<<10)}
	if err := cw.WriteRaw(CDRHeader); err != nil {
		return nil, err
	}
	return cw, nil
}

// Write writes one CDR, its fields in cdrFields order (CDRHeader).
func (w *CDRWriter) Write(c *CDR) error {
	b := w.buf
	for k := range cdrFields {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendCDRField(b, k, c)
	}
	b = append(b, '\n')
	return w.spill(b)
}

// appendCDRField appends field k (an index into cdrFields) of c: times in
// RFC 3339 UTC with milliseconds, durations in seconds with 3 decimals,
// amounts in plain notation, absent optional values empty. A new CDR field
// is a Field* constant, an f* index, a ColumnMap entry, and a case here.
func appendCDRField(b []byte, k int, c *CDR) []byte {
	switch k {
	case fTransactionID:
		return appendField(b, c.TransactionID, false)
	case fCallID:
		return appendField(b, c.CallID, false)
	case fCalling:
		return appendField(b, c.Calling, false)
	case fCalled:
		return appendField(b, c.Called, false)
	case fConnectTime:
		return appendTimeMillis(b, c.ConnectTime)
	case fDuration:
		return appendMillis(b, c.DurationMillis)
	case fRole:
		return appendField(b, string(c.Role), false)
	case fCounterparty:
		return appendField(b, c.Counterparty, false)
	case fBillable:
		if c.HasBillable {
			b = strconv.AppendInt(b, c.BillableSeconds, 10)
		}
		return b
	case fAmount:
		if c.Rated() {
			return c.Amount.AppendText(b)
		}
		return b
	case fCurrency:
		if c.Rated() {
			return append(b, c.Amount.Currency()...)
		}
		return b
	case fPrefix:
		return appendField(b, c.Prefix, false)
	case fDescription:
		return appendField(b, c.Description, false)
	case fNetwork:
		return appendField(b, c.Network, false)
	case fPeerTransactionID:
		return appendField(b, c.PeerTransactionID, false)
	}
	return b
}

// WriteRaw writes one record as given (the header, the TOTAL trailer).
func (w *CDRWriter) WriteRaw(rec []string) error {
	b := w.buf
	for i, f := range rec {
		b = appendField(b, f, i > 0)
	}
	b = append(b, '\n')
	return w.spill(b)
}

func (w *CDRWriter) spill(b []byte) error {
	w.buf = b
	if len(b) < 60<<10 {
		return nil
	}
	return w.Flush()
}

// Flush writes any buffered data and returns the first write error.
func (w *CDRWriter) Flush() error {
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// appendField appends a CSV field (after a comma if sep), quoted when
// encoding/csv would quote it.
func appendField(b []byte, f string, sep bool) []byte {
	if sep {
		b = append(b, ',')
	}
	if !fieldNeedsQuotes(f) {
		return append(b, f...)
	}
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, f[i])
	}
	return append(b, '"')
}

// fieldNeedsQuotes is encoding/csv's rule (comma delimiter): a field
// holding a comma, a quote, \r or \n, the field `\.`, or one starting with
// a space is quoted. It runs for every field of every rated record, so the
// bytes are compared eight at a time (hasByte), the tail by table
// (csvSpecial), and the leading rune is decoded only when it is not ASCII.
func fieldNeedsQuotes(f string) bool {
	if f == "" {
		return false
	}
	if f == `\.` {
		return true
	}
	i := 0
	for ; i+8 <= len(f); i += 8 {
		w := uint64(f[i]) | uint64(f[i+1])<<8 | uint64(f[i+2])<<16 | uint64(f[i+3])<<24 |
			uint64(f[i+4])<<32 | uint64(f[i+5])<<40 | uint64(f[i+6])<<48 | uint64(f[i+7])<<56
		if hasByte(w, ',') || hasByte(w, '"') || hasByte(w, '\r') || hasByte(w, '\n') {
			return true
		}
	}
	for ; i < len(f); i++ {
		if csvSpecial[f[i]] {
			return true
		}
	}
	if c := f[0]; c < utf8.RuneSelf {
		return asciiSpace[c]
	}
	r, _ := utf8.DecodeRuneInString(f)
	return unicode.IsSpace(r)
}

// hasByte reports whether any of the 8 bytes of w is c: x has a zero byte
// exactly when (x-0x01…01) &^ x has a top bit set (eight bytes compared
// with a few word operations instead of eight table lookups).
func hasByte(w uint64, c byte) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	x := w ^ (ones * uint64(c))
	return (x-ones)&^x&tops != 0
}

// csvSpecial marks the bytes that make encoding/csv quote a field.
var csvSpecial = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// asciiSpace is unicode.IsSpace for ASCII.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// appendTimeMillis appends t in UTC as 2006-01-02T15:04:05.000Z, what
// AppendFormat writes with that layout, at a fraction of its cost (the
// generic formatter parses the layout for every record). Years outside
// 0..9999 go through AppendFormat.
func appendTimeMillis(b []byte, t time.Time) []byte {
	var y, d, h, mi, s int
	var mo time.Month
	if secs := t.Unix(); secs >= 0 && secs < 253402300800 { // 1970 to 9999: by day arithmetic
		var m int
		y, m, d = civilFromDays(secs / 86400)
		mo = time.Month(m)
		sod := int(secs % 86400)
		h, mi, s = sod/3600, sod/60%60, sod%60
	} else {
		t = t.UTC()
		y, mo, d = t.Date()
		if y < 0 || y > 9999 {
			return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		}
		h, mi, s = t.Clock()
	}
	ms := t.Nanosecond() / 1e6
	two := func(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = two(b, int(mo))
	b = append(b, '-')
	b = two(b, d)
	b = append(b, 'T')
	b = two(b, h)
	b = append(b, ':')
	b = two(b, mi)
	b = append(b, ':')
	b = two(b, s)
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// civilFromDays is the proleptic Gregorian date of day number days ≥ 0,
// 1970-01-01 being 0 (H. Hinnant's civil_from_days; the inverse of
// daysSinceEpoch): what t.Date() computes, without its generality.
func civilFromDays(days int64) (y, m, d int) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendMillis appends milliseconds as seconds with 3 decimals.
func appendMillis(b []byte, ms int64) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	r := ms % 1000
	return append(b, '.', byte('0'+r/100), byte('0'+r/10%10), byte('0'+r%10))
}

// TotalRecord is the TOTAL trailer line `settle rate` appends, in
// CDRHeader's columns: TotalMarker first, the billable seconds, amount and
// currency in their columns, and note (e.g. "10 calls") in description, so
// calls are not read as a duration. CDRReader skips it.
func TotalRecord(billable int64, amount money.Amount, note string) []string {
	rec := make([]string, len(CDRHeader))
	rec[0] = TotalMarker
	rec[fBillable] = strconv.FormatInt(billable, 10)
	rec[fAmount], rec[fCurrency] = amount.Text(), amount.Currency()
	rec[fDescription] = note
	return rec
}

// FormatMillis renders milliseconds as seconds with 3 decimals ("30.125").
func FormatMillis(ms int64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}
