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
			return m, fmt.Errorf("%w: column map: unknown field %q (want one of %s)", ErrBadInput, k, strings.Join(cdrFields, ", "))
		}
		*p = v
	}
	return m, nil
}

// cdrFields is every CDR field, in CDRHeader's order: the one column set
// of the CSV that exports write and every reader takes.
var cdrFields = []string{FieldTransactionID, FieldCallID, FieldCalling, FieldCalled, FieldConnectTime,
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

// ReadCDRs reads CDRs from CSV with a header line. Required columns: called,
// connect_time and duration (through f.Columns); the rest are optional.
// A file with any bad line is rejected with a *CDRError naming each bad line
// and field (capped at MaxListedErrors); bounds as in ReadDeckCSV.
func ReadCDRs(r io.Reader, f CDRFormat) ([]CDR, error) {
	if f.DurationUnit == "" {
		f.DurationUnit = "s"
	}
	if f.DurationUnit != "s" && f.DurationUnit != "ms" {
		return nil, fmt.Errorf("%w: duration unit %q (want s or ms)", ErrBadInput, f.DurationUnit)
	}
	if f.Currency != "" && !money.ValidCurrency(f.Currency) {
		return nil, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrBadInput, f.Currency)
	}
	maxRows, maxLine := f.MaxRows, f.MaxLineBytes
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	src := newCSVSource(r, maxLine)
	if err := src.readHeader(); err != nil {
		return nil, cdrErr(err)
	}
	cols := make(map[string]int, len(cdrFields))
	var errs lineErrors
	for _, fl := range cdrFields {
		name := f.Columns.column(fl)
		i, ok := src.header[name]
		if name == "-" || !ok {
			i = -1
		}
		cols[fl] = i
		if i < 0 && (fl == FieldCalled || fl == FieldConnectTime || fl == FieldDuration) {
			errs.add(1, fl, name, fmt.Errorf("%w: missing column %q (header has %s)", ErrBadInput, name, strings.Join(src.names, ",")))
		}
	}
	if errs.count() > 0 {
		return nil, &CDRError{Errors: errs.Errors, Omitted: errs.Omitted}
	}
	if cols[FieldAmount] >= 0 && cols[FieldCurrency] < 0 && f.Currency == "" {
		return nil, &CDRError{Errors: []FieldError{{Line: 1, Field: FieldAmount,
			Err: fmt.Errorf("%w: amounts need a currency column or a default currency", ErrBadInput)}}}
	}
	var out []CDR
	tooBig := false
	for {
		rec, line, err := src.nextRecord(&errs)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if field(rec, 0) == TotalMarker && field(rec, cols[FieldCalled]) == "" {
			continue // the trailer `ospnode settle rate` writes
		}
		if len(out) >= maxRows {
			errs.add(line, "", "", fmt.Errorf("%w: more than %d rows", ErrTooLarge, maxRows))
			tooBig = true
			break
		}
		get := func(fl string) string { return field(rec, cols[fl]) }
		bad := errs.count()
		c := CDR{
			TransactionID: get(FieldTransactionID), CallID: get(FieldCallID),
			Calling: get(FieldCalling), Called: get(FieldCalled),
			Counterparty: get(FieldCounterparty), Line: line,
			Prefix: get(FieldPrefix), Description: get(FieldDescription),
			Network: get(FieldNetwork), PeerTransactionID: get(FieldPeerTransactionID),
		}
		for _, s := range []struct{ name, v string }{{FieldTransactionID, c.TransactionID}, {FieldCallID, c.CallID},
			{FieldCalling, c.Calling}, {FieldCalled, c.Called}, {FieldCounterparty, c.Counterparty},
			{FieldPrefix, c.Prefix}, {FieldDescription, c.Description}, {FieldNetwork, c.Network},
			{FieldPeerTransactionID, c.PeerTransactionID}} {
			if len(s.v) > 256 {
				errs.add(line, f.Columns.column(s.name), s.v, fmt.Errorf("%w: longer than 256 bytes", ErrBadInput))
			}
		}
		if c.Called == "" {
			errs.add(line, f.Columns.column(FieldCalled), "", fmt.Errorf("%w: empty", ErrBadInput))
		}
		if s := get(FieldConnectTime); true {
			t, err := parseTime(s, f.TimeLayout, f.Location)
			if err != nil {
				errs.add(line, f.Columns.column(FieldConnectTime), s, err)
			}
			c.ConnectTime = t.UTC()
		}
		if s := get(FieldDuration); true {
			ms, err := parseMillis(s, f.DurationUnit)
			if err == nil && ms > maxDurationMillis {
				err = fmt.Errorf("%w: duration over 100 days", ErrBadInput)
			}
			if err != nil {
				errs.add(line, f.Columns.column(FieldDuration), s, err)
			}
			c.DurationMillis = ms
		}
		if s := get(FieldRole); s != "" {
			switch Role(strings.ToLower(s)) {
			case RoleSource, "src", "orig", "originating":
				c.Role = RoleSource
			case RoleDestination, "dst", "dest", "term", "terminating":
				c.Role = RoleDestination
			default:
				errs.add(line, f.Columns.column(FieldRole), s, fmt.Errorf("%w: want source or destination", ErrBadInput))
			}
		}
		if s := get(FieldBillableSeconds); s != "" {
			n, err := parseInt(s)
			if err != nil || n > maxDurationMillis/1000 {
				errs.add(line, f.Columns.column(FieldBillableSeconds), s, fmt.Errorf("%w: want whole seconds", ErrBadInput))
			}
			c.BillableSeconds, c.HasBillable = n, true
		}
		if s := get(FieldAmount); s != "" {
			cur := get(FieldCurrency)
			if cur == "" {
				cur = f.Currency
			}
			a, err := money.New(s, strings.ToUpper(cur))
			if err != nil {
				errs.add(line, f.Columns.column(FieldAmount), s+" "+cur, fmt.Errorf("%w: %w", ErrBadInput, err))
			}
			c.Amount = a
		}
		if errs.count() > bad {
			continue
		}
		out = append(out, c)
	}
	if errs.count() > 0 {
		return nil, &CDRError{Errors: errs.Errors, Omitted: errs.Omitted, tooBig: tooBig || src.stoppedTooLarge}
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
var CDRHeader = cdrFields

// WriteCDRs writes cdrs as CSV with CDRHeader: times in RFC 3339 UTC with
// milliseconds, durations in seconds with 3 decimals, amounts in plain
// notation. Empty optional fields stay empty.
func WriteCDRs(w io.Writer, cdrs []CDR) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CDRHeader); err != nil {
		return err
	}
	rec := make([]string, len(CDRHeader))
	for i := range cdrs {
		cdrRecord(rec, &cdrs[i])
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func cdrRecord(rec []string, c *CDR) {
	rec[0], rec[1], rec[2], rec[3] = c.TransactionID, c.CallID, c.Calling, c.Called
	rec[4] = c.ConnectTime.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	rec[5] = FormatMillis(c.DurationMillis)
	rec[6], rec[7] = string(c.Role), c.Counterparty
	rec[8], rec[9], rec[10] = "", "", ""
	rec[11], rec[12] = c.Prefix, c.Description
	rec[13], rec[14] = c.Network, c.PeerTransactionID
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
