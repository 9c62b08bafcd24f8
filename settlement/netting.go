package settlement

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/ospnode/ospnode/ledger/money"
)

// Netting is the netted settlement between us and one counterparty (them)
// for one period: a Sell statement per currency of what they owe us, a Buy
// statement per currency of what we owe them, and per currency the net of
// the two invoice amounts (SETTLEMENT.md: "what N1 owes N2 minus what N2
// owes N1, per currency and period"). Currencies are never mixed.
type Netting struct {
	Us, Them string
	Period   Period
	TheyOwe  []*Statement // what they owe us, by currency (sorted)
	WeOwe    []*Statement // what we owe them, by currency (sorted)
	// Positions has A = Them and B = Us, so Net = TheyOweUs − WeOweThem:
	// positive means they pay us, negative means we pay them.
	Positions []NetPosition
	// Heading names the parties and dates the document (netting_doc.go);
	// BuildNetting leaves it zero for the caller.
	Heading NettingHeading
}

// BuildNetting nets theyOwe (rated CDRs of calls they pay us for: our sell
// side) against weOwe (rated CDRs of calls we pay them for: our buy side)
// for counterparty them over period. As in BuildStatement, a CDR of
// another counterparty (an empty Counterparty matches) or outside period
// is left out. An included CDR that is not rated, or a currency without a
// known minor unit, fails the netting with an error wrapping ErrBadInput
// that names the side and line. A currency with traffic on only one side
// still gets a position (the other side is zero).
func BuildNetting(us, them string, period Period, theyOwe, weOwe []CDR) (*Netting, error) {
	if us == "" || them == "" || us == them {
		return nil, fmt.Errorf("%w: netting needs two different parties (us %q, them %q)", ErrBadInput, us, them)
	}
	nt := &Netting{Us: us, Them: them, Period: period}
	var obligations []Obligation
	for _, side := range []struct {
		name string
		dir  Direction
		cdrs []CDR
		dst  *[]*Statement
	}{{"they owe", Sell, theyOwe, &nt.TheyOwe}, {"we owe", Buy, weOwe, &nt.WeOwe}} {
		byCur := map[string][]CDR{}
		for i := range side.cdrs {
			c := &side.cdrs[i]
			if (c.Counterparty != "" && c.Counterparty != them) || !period.Contains(c.ConnectTime) {
				continue
			}
			if !c.Rated() {
				return nil, fmt.Errorf("%w: %s: line %d (call %s): CDR is not rated", ErrBadInput, side.name, c.Line, c.Called)
			}
			cur := c.Amount.Currency()
			byCur[cur] = append(byCur[cur], *c)
		}
		curs := make([]string, 0, len(byCur))
		for cur := range byCur {
			curs = append(curs, cur)
		}
		sort.Strings(curs)
		for _, cur := range curs {
			st, err := BuildStatement(byCur[cur], them, cur, period)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", side.name, err)
			}
			*side.dst = append(*side.dst, st)
			obligations = append(obligations, st.Obligation(us, side.dir))
		}
	}
	var err error
	if nt.Positions, err = Net(them, us, obligations); err != nil {
		return nil, err
	}
	return nt, nil
}

// statementFor returns the statement of sts in currency, or nil.
func statementFor(sts []*Statement, currency string) *Statement {
	for _, s := range sts {
		if s.Currency == currency {
			return s
		}
	}
	return nil
}

// NettingLine is one currency of a Netting as its outputs render it.
type NettingLine struct {
	Currency       string
	TheyOweUs      money.Amount
	TheyOweCalls   int
	TheyOweMinutes string
	WeOweThem      money.Amount
	WeOweCalls     int
	WeOweMinutes   string
	Net            money.Amount // TheyOweUs − WeOweThem
	Payer, Payee   string       // "" when Net is zero
	Due            money.Amount // |Net|, what Payer pays Payee
}

func (nt *Netting) rows() []NettingLine {
	out := make([]NettingLine, 0, len(nt.Positions))
	for _, p := range nt.Positions {
		r := NettingLine{Currency: p.Currency, TheyOweUs: p.AOwesB, WeOweThem: p.BOwesA, Net: p.Net,
			Payer: p.Payer, Payee: p.Payee, Due: p.Net, TheyOweMinutes: "0.00", WeOweMinutes: "0.00"}
		if p.Net.Sign() < 0 {
			r.Due = p.Net.Neg()
		}
		if s := statementFor(nt.TheyOwe, p.Currency); s != nil {
			r.TheyOweCalls, r.TheyOweMinutes = s.Calls, s.Minutes()
		}
		if s := statementFor(nt.WeOwe, p.Currency); s != nil {
			r.WeOweCalls, r.WeOweMinutes = s.Calls, s.Minutes()
		}
		out = append(out, r)
	}
	return out
}

// settles says who pays whom in words.
func (r NettingLine) settles() string {
	if r.Payer == "" {
		return "even: nothing to pay"
	}
	return r.Payer + " pays " + r.Payee + " " + r.Due.Text() + " " + r.Currency
}

// WriteText writes the netting as an aligned table for people: per
// currency what they owe us, what we owe them, the net and who pays whom.
func (nt *Netting) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "Netting %s ↔ %s, period %s (net = they owe us − we owe them; invoice amounts)\n",
		nt.Us, nt.Them, nt.Period); err != nil {
		return err
	}
	if len(nt.Positions) == 0 {
		_, err := fmt.Fprintln(w, "no rated traffic in either direction")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENCY\tTHEY OWE US\tCALLS\tMINUTES\tWE OWE THEM\tCALLS\tMINUTES\tNET\tSETTLEMENT")
	for _, r := range nt.rows() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Currency, r.TheyOweUs.Text(), r.TheyOweCalls, r.TheyOweMinutes,
			r.WeOweThem.Text(), r.WeOweCalls, r.WeOweMinutes, r.Net.Text(), r.settles())
	}
	return tw.Flush()
}

// NettingCSVHeader is the header line of Netting.WriteCSV.
var NettingCSVHeader = []string{"period", "us", "them", "currency", "they_owe_us", "they_owe_calls", "they_owe_minutes",
	"we_owe_them", "we_owe_calls", "we_owe_minutes", "net", "payer", "payee", "due"}

// WriteCSV writes one line per currency under NettingCSVHeader.
func (nt *Netting) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(NettingCSVHeader)
	for _, r := range nt.rows() {
		_ = cw.Write([]string{nt.Period.String(), nt.Us, nt.Them, r.Currency, r.TheyOweUs.Text(), strconv.Itoa(r.TheyOweCalls),
			r.TheyOweMinutes, r.WeOweThem.Text(), strconv.Itoa(r.WeOweCalls), r.WeOweMinutes, r.Net.Text(), r.Payer, r.Payee, r.Due.Text()})
	}
	cw.Flush()
	return cw.Error()
}

// StatementTotals is a statement's totals without its breakdowns (the
// full statement is one `settle statement` away).
type StatementTotals struct {
	Currency        string
	Calls           int
	BillableSeconds int64
	Minutes         string
	Amount, Invoice money.Amount
	InvoiceRounding money.Amount
}

func summaries(sts []*Statement) []StatementTotals {
	out := make([]StatementTotals, 0, len(sts))
	for _, s := range sts {
		out = append(out, StatementTotals{s.Currency, s.Calls, s.BillableSeconds, s.Minutes(), s.Amount, s.Invoice, s.InvoiceRounding})
	}
	return out
}

// NettingJSON is the JSON form of a Netting (Netting.WriteJSON writes it;
// clients decode it).
type NettingJSON struct {
	Us, Them  string
	Period    string
	Positions []NettingLine
	TheyOwe   []StatementTotals
	WeOwe     []StatementTotals
}

// WriteJSON writes the netting as indented JSON: the per-currency
// positions and the totals of each side's statements.
func (nt *Netting) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(NettingJSON{Us: nt.Us, Them: nt.Them, Period: nt.Period.String(), Positions: nt.rows(),
		TheyOwe: summaries(nt.TheyOwe), WeOwe: summaries(nt.WeOwe)})
}
