package settlement

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

const streamDeck = `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from,effective_until
49,Germany,0.10,0,60,60,2026-11-01,
4915,Germany mobile,0.20,0,30,6,2026-11-01,
`

func streamRater(t *testing.T, deckCSV string, opts DeckOptions) *Rater {
	t.Helper()
	if opts.Currency == "" {
		opts.Currency = "USD"
	}
	if opts.Decimals == 0 {
		opts.Decimals = 4
	}
	d, err := ReadDeckCSV(strings.NewReader(deckCSV), opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRater(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type rejected struct {
	line   int
	reason string
	field  string
}

// rateAll runs RateStream over in and returns the summary, the rated
// records' lines and amounts, and the rejects.
func rateAll(t *testing.T, r *Rater, in string) (*RateSummary, []string, []rejected) {
	t.Helper()
	cr, err := NewCDRReader(strings.NewReader(in), CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	var rated []string
	var rej []rejected
	s, err := RateStream(cr, r, RateStreamOptions{
		Rated: func(c *CDR) error {
			rated = append(rated, fmt.Sprintf("%d:%s", c.Line, c.Amount))
			return nil
		},
		Reject: func(e *RowError, fields []string) error {
			f := ""
			if len(e.Errors) > 0 {
				f = e.Errors[0].Field
			}
			rej = append(rej, rejected{e.Line, e.Reason, f})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, rated, rej
}

// TestRateStreamRejectsWithReasons: every record is either rated or
// rejected with the reason and the field at fault; nothing is priced at 0
// to make up for a record that cannot be rated, and the totals say so.
func TestRateStreamRejectsWithReasons(t *testing.T) {
	r := streamRater(t, streamDeck, DeckOptions{})
	in := "transaction_id,called,connect_time,duration,currency\n" +
		"T1,4930123,2026-11-02T10:00:00Z,61,USD\n" + // 120 s × 0.10 = 0.2000
		"T1,4930123,2026-11-02T10:00:00Z,61,USD\n" + // the same call again
		"T2,4915123,2026-11-02T10:00:00Z,31,EUR\n" + // not the run's currency
		"T3,4915123,2026-11-02T10:00:00Z,31,QQQ\n" + // not ISO 4217
		"T4,4915123,2026-10-31T23:59:59Z,31,\n" + // before the deck
		"T5,3312345,2026-11-02T10:00:00Z,31,\n" + // no prefix
		"T6,49x,2026-11-02T10:00:00Z,31,\n" + // not E.164
		"T7,4915123,2026-11-02T10:00:00Z,31,USD,extra\n" + // a field beyond the header
		"T8,4915123,yesterday,31,\n" + // bad time
		"T9,4915123,2026-11-02T10:00:00Z,31,\n" // 36 s × 0.20 = 0.1200
	s, rated, rej := rateAll(t, r, in)
	if want := []string{"2:0.2000 USD", "11:0.1200 USD"}; fmt.Sprint(rated) != fmt.Sprint(want) {
		t.Errorf("rated %v, want %v", rated, want)
	}
	want := []rejected{
		{3, ReasonDuplicate, "transaction_id"},
		{4, ReasonCurrency, "currency"},
		{5, "bad currency", "currency"},
		{6, ReasonNoVersion, "connect_time"},
		{7, ReasonNoPrefix, "called"},
		{8, ReasonBadNumber, "called"},
		{9, ReasonExtraFields, ""},
		{10, "bad connect_time", "connect_time"},
	}
	if fmt.Sprint(rej) != fmt.Sprint(want) {
		t.Errorf("rejects\n got %v\nwant %v", rej, want)
	}
	if s.Rated != 2 || s.Rejected.Count != 8 || s.Amount.String() != "0.3200 USD" || s.BillableSeconds != 156 {
		t.Errorf("summary %+v", s)
	}
	if rs := s.Rejected.Reasons(); len(rs) != 8 || rs[0].Count != 1 {
		t.Errorf("reasons %v", rs)
	}
}

// TestRateStreamHeaderOnlyTotalsInDeckDecimals: an empty file totals
// 0.0000 (the deck's 4 places), not "0".
func TestRateStreamHeaderOnlyTotalsInDeckDecimals(t *testing.T) {
	for _, dec := range []int32{2, 4, 6} {
		r := streamRater(t, streamDeck, DeckOptions{Decimals: dec})
		s, rated, rej := rateAll(t, r, "called,connect_time,duration\n")
		want := "0." + strings.Repeat("0", int(dec))
		if s.Amount.Text() != want || s.Amount.Currency() != "USD" || len(rated)+len(rej) != 0 {
			t.Errorf("decimals %d: total %q, want %q", dec, s.Amount.Text(), want)
		}
	}
}

// TestRateStreamDuplicateClaimsIDOfRejected: a record rejected for a bad
// field still claims its transaction id, so a second copy cannot slip in
// under it unnoticed.
func TestRateStreamDuplicateClaimsIDOfRejected(t *testing.T) {
	r := streamRater(t, streamDeck, DeckOptions{})
	_, rated, rej := rateAll(t, r, "transaction_id,called,connect_time,duration\n"+
		"T1,4930,2026-11-02T10:00:00Z,sixty\n"+
		"T1,4930,2026-11-02T10:00:00Z,60\n")
	if len(rated) != 0 || len(rej) != 2 || rej[1].reason != ReasonDuplicate {
		t.Fatalf("rated %v rejects %v", rated, rej)
	}
}

// genCDRs is an io.Reader producing n CDR lines on the fly, so a test of
// memory does not hold the file itself.
type genCDRs struct {
	n, i  int
	ids   bool
	buf   []byte
	start time.Time
}

func (g *genCDRs) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, "transaction_id,call_id,calling,called,connect_time,duration\n"...)
		} else {
			if g.ids {
				g.buf = strconv.AppendInt(g.buf, int64(1e9+g.i), 10)
			}
			g.buf = fmt.Appendf(g.buf, ",c%d@sbc,4420%07d,4915%07d,%s,%d.%03d\n", g.i, g.i%9999999, g.i%9999999,
				g.start.Add(time.Duration(g.i)*time.Second).Format(time.RFC3339), g.i%3600, g.i%1000)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

// liveHeapWhileRating rates n generated records and returns the largest
// live heap (after a GC) seen every 10,000 records.
func liveHeapWhileRating(t *testing.T, r *Rater, n int, ids bool) uint64 {
	t.Helper()
	cr, err := NewCDRReader(&genCDRs{n: n, ids: ids, start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	var ms runtime.MemStats
	k := 0
	out, _ := NewCDRWriter(io.Discard)
	s, err := RateStream(cr, r, RateStreamOptions{Rated: func(c *CDR) error {
		if k++; k%10000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return out.Write(c)
	}})
	if err != nil || s.Rated != int64(n) {
		t.Fatalf("%v: rated %d of %d (%v)", err, s.Rated, n, s.Rejected.Reasons())
	}
	return peak
}

// TestRateStreamMemoryBounded: rating 4N records holds no more live heap
// than rating N (the records are not kept); with transaction ids the one
// growing part, the duplicate check, stays near 8–11 bytes per id. Reading
// the records whole (ReadCDRs) costs ~850 bytes each: 150,000 more records
// would show as >100 MB.
func TestRateStreamMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("rates 250,000 records")
	}
	r := streamRater(t, streamDeck, DeckOptions{})
	const n = 50_000
	small := liveHeapWhileRating(t, r, n, false)
	large := liveHeapWhileRating(t, r, 4*n, false)
	t.Logf("live heap: %d KiB after %d records, %d KiB after %d", small>>10, n, large>>10, 4*n)
	if large > small+1<<20 {
		t.Errorf("live heap grew from %d to %d bytes rating 4× the records (no ids)", small, large)
	}
	withIDs := liveHeapWhileRating(t, r, 4*n, true)
	perID := (int64(withIDs) - int64(large)) / (4 * n)
	t.Logf("with transaction ids: %d KiB, ~%d bytes per id", withIDs>>10, perID)
	if perID > 24 {
		t.Errorf("%d bytes per transaction id (want ~11)", perID)
	}
}

func TestIDSet(t *testing.T) {
	s := newIDSet()
	for i := 0; i < 100_000; i++ {
		if !s.add(strconv.Itoa(i)) {
			t.Fatalf("id %d reported seen", i)
		}
	}
	for i := 0; i < 100_000; i += 7 {
		if s.add(strconv.Itoa(i)) {
			t.Fatalf("id %d not remembered", i)
		}
	}
	if s.n != 100_000 {
		t.Fatalf("n = %d", s.n)
	}
	if b := s.bytes(); b > 100_000*16 {
		t.Errorf("%d bytes for 100,000 ids", b)
	}
}

func TestCDRWriterMatchesEncodingCSV(t *testing.T) {
	cdrs := []CDR{
		{TransactionID: "T1", CallID: `a"b,c`, Calling: " 12", Called: "4930", ConnectTime: jan1.Add(1500 * time.Millisecond),
			DurationMillis: 61001, Role: RoleSource, Counterparty: "acme\nco", BillableSeconds: 120, HasBillable: true,
			Amount: money.MustNew("0.2000", "USD"), Prefix: "49", Description: `\.`},
		{Called: "1", ConnectTime: jan1, DurationMillis: 0},
		{Called: "1", Description: "\tx", Calling: "\r"},
	}
	var got, want bytes.Buffer
	if err := WriteCDRs(&got, cdrs); err != nil {
		t.Fatal(err)
	}
	cw := csv.NewWriter(&want)
	_ = cw.Write(CDRHeader)
	for i := range cdrs {
		_ = cw.Write(referenceRecord(&cdrs[i]))
	}
	cw.Flush()
	if got.String() != want.String() {
		t.Fatalf("got\n%q\nwant\n%q", got.String(), want.String())
	}
}

// referenceRecord is the CSV record of c the way WriteCDRs wrote it with
// encoding/csv before CDRWriter.
func referenceRecord(c *CDR) []string {
	rec := make([]string, len(CDRHeader))
	rec[0], rec[1], rec[2], rec[3] = c.TransactionID, c.CallID, c.Calling, c.Called
	rec[4] = c.ConnectTime.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	rec[5] = FormatMillis(c.DurationMillis)
	rec[6], rec[7] = string(c.Role), c.Counterparty
	rec[11], rec[12] = c.Prefix, c.Description
	if c.HasBillable {
		rec[8] = strconv.FormatInt(c.BillableSeconds, 10)
	}
	if c.Rated() {
		rec[9], rec[10] = c.Amount.Text(), c.Amount.Currency()
	}
	return rec
}

func FuzzCDRWriter(f *testing.F) {
	f.Add("T1", `a"b`, " x", "\\.", int64(61001), int64(1796131200123456789))
	f.Add("", "", "", "", int64(-1), int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, tx, call, calling, desc string, ms, at int64) {
		c := CDR{TransactionID: tx, CallID: call, Calling: calling, Called: "49", Description: desc, DurationMillis: ms,
			ConnectTime: time.Unix(0, at)}
		var got, want bytes.Buffer
		if err := WriteCDRs(&got, []CDR{c}); err != nil {
			t.Fatal(err)
		}
		cw := csv.NewWriter(&want)
		_ = cw.Write(CDRHeader)
		_ = cw.Write(referenceRecord(&c))
		cw.Flush()
		if got.String() != want.String() {
			t.Fatalf("got %q want %q", got.String(), want.String())
		}
	})
}

// FuzzCDRReader: any input either fails at the header or yields records
// and row errors until EOF or a fatal error, never a panic; a RowError
// always names its line.
func FuzzCDRReader(f *testing.F) {
	f.Add("transaction_id,called,connect_time,duration,currency\nT1,49,2026-11-01T00:00:00Z,60,USD\nT1,49,x,60,QQQ,extra\n")
	f.Add("called,connect_time,duration\n\"49,2026-11-01,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		cr, err := NewCDRReader(strings.NewReader(in), CDRFormat{MaxLineBytes: 512})
		if err != nil {
			return
		}
		var c CDR
		for i := 0; i < 10000; i++ {
			err := cr.Next(&c)
			if err == io.EOF {
				return
			}
			var re *RowError
			if errors.As(err, &re) {
				if re.Line < 2 || re.Reason == "" || len(re.Errors) == 0 {
					t.Fatalf("row error without line or reason: %+v", re)
				}
				continue
			}
			if err != nil {
				return
			}
			if c.Currency != "" && !ISOCurrency(c.Currency) {
				t.Fatalf("currency %q accepted", c.Currency)
			}
		}
	})
}

// FuzzCSVSourceMatchesEncodingCSV: the quote-free fast path and the hand-
// over to encoding/csv read every input as encoding/csv alone does (same
// records, same line numbers, an error where it errs).
func FuzzCSVSourceMatchesEncodingCSV(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1, 2 ,3\n\n4,5\r\n6\r",
		"a,b\n1,2\n\"x\ny\",3\n4,5\n",
		"a\n  \n\t,x\nq\"r\n",
		"h\n1,2,3,4\n5\n\"unterminated\n",
		"\ufeffa,b\n1,2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// Plain, and shared (RateStream's chunked strings) over reads of
		// every size, so lines cross the chunks' ends.
		for mode := 0; mode < 4; mode++ {
			var r io.Reader = strings.NewReader(in)
			switch mode {
			case 2:
				r = iotest.OneByteReader(r)
			case 3:
				r = iotest.HalfReader(r)
			}
			src := newCSVSource(r, 1<<20)
			src.shared = mode > 0
			t.Run(fmt.Sprint("mode", mode), func(t *testing.T) { csvSourceMatches(t, src, in) })
		}
	})
}

// csvSourceMatches reads in with src and with encoding/csv and compares.
func csvSourceMatches(t *testing.T, src *csvSource, in string) {
	ref := csv.NewReader(strings.NewReader(in))
	ref.FieldsPerRecord, ref.TrimLeadingSpace = -1, true
	for i := 0; i < 1000; i++ {
		want, werr := ref.Read()
		got, line, gerr := src.read()
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("record %d: err %v, want %v", i, gerr, werr)
		}
		if werr != nil {
			if werr == io.EOF && gerr != io.EOF {
				t.Fatalf("record %d: err %v, want EOF", i, gerr)
			}
			var wp, gp *csv.ParseError
			if errors.As(werr, &wp) && (!errors.As(gerr, &gp) || gp.Line != wp.Line) {
				t.Fatalf("record %d: err %v, want %v", i, gerr, werr)
			}
			return
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("record %d: %q, want %q", i, got, want)
		}
		if wl, _ := ref.FieldPos(0); wl != line {
			t.Fatalf("record %d %q: line %d, want %d", i, got, line, wl)
		}
	}
}
