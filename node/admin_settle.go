package node

import (
	"errors"
	"io"

	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// Online settlement: statements and reconciliation built from the ledger's
// usage records, with the same settlement code the offline commands use.
func (n *Node) adminSettleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/statements", n.handleStatement)
	mux.HandleFunc("GET /v1/netting", n.handleNetting)
	mux.HandleFunc("POST /v1/reconcile", n.reportHandler(n.reconcileReport))
	mux.HandleFunc("GET /v1/reconcile/internal", n.reportHandler(n.reconcileInternalReport))
}

// reportHandler serves a reconciliation report: the format parameter is
// checked before build runs, a build error is answered by adminFail, and
// the report is rendered by writeReport.
func (n *Node) reportHandler(build func(http.ResponseWriter, *http.Request) (*settlement.Report, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := reportFormatOK(r)
		var rep *settlement.Report
		if err == nil {
			rep, err = build(w, r)
		}
		if err != nil {
			n.adminFail(w, r, err)
			return
		}
		n.writeReport(w, r, rep)
	}
}

// settleCDRs returns our CDRs with account (a member or peer account) as
// counterparty whose settlement time falls in period, both directions
// together (see settleCDRsEach).
func (n *Node) settleCDRs(account string, period settlement.Period) ([]settlement.CDR, error) {
	var out []settlement.CDR
	err := n.settleCDRsEach(account, period, func(_ settlement.Direction, c settlement.CDR) {
		out = append(out, c)
	})
	return out, err
}

// settleCDRsEach calls fn, in usage id order, for each of our CDRs with
// account (a member or peer account) as counterparty whose settlement time
// falls in period, with the CDR's direction: settlement.Sell when account
// owes us (it originated the call), settlement.Buy when we owe account (it
// terminated the call, or is the upstream peer we forwarded it to), "" for
// an unrated record. The settlement time is the connect time, except for
// a late adjustment (usage of a closed period), which the ledger dates into
// the period that was open when it arrived: the statement follows the
// postings, so a closed period's statement never changes. Reads the
// member's usage index (members) or every usage record (peers), page by
// page.
func (n *Node) settleCDRsEach(account string, period settlement.Period, fn func(settlement.Direction, settlement.CDR)) error {
	var f ledger.UsageFilter
	if id, ok := strings.CutPrefix(account, "member:"); ok {
		f.Member = id
	}
	return n.forEachUsage(f, func(u *ledger.Usage) {
		if !u.CallRecord() {
			return // a setup, interim or conflicting record: not what the call is settled on
		}
		cdrs := n.usageCDRs(u, account)
		if len(cdrs) == 0 {
			return
		}
		at := cdrs[0].ConnectTime
		if u.LateAdjustment && u.PostingID != 0 {
			if ps, err := n.store.Postings(ledger.PostingFilter{After: u.PostingID - 1, Limit: 1}); err == nil && len(ps) == 1 {
				at = ps[0].EffectiveAt
			}
		}
		if !period.Contains(at) {
			return
		}
		// usageCDRs returns the sell side first, then the buy side.
		sells := 0
		if rt := u.Rating; rt != nil && rt.SellCounterparty == account && rt.Sell.Currency() != "" {
			sells = 1
		}
		for j := range cdrs {
			cdrs[j].ConnectTime = at
			cdrs[j].Line = int(u.ID) // reports cite the usage id
			dir := settlement.Buy
			switch {
			case !cdrs[j].Rated():
				dir = ""
			case j < sells:
				dir = settlement.Sell
			}
			fn(dir, cdrs[j])
		}
	})
}

// usagePage is how many usage records one ledger read returns while
// forEachUsage walks them.
const usagePage = 10000

// forEachUsage calls fn for every usage record matching f (its Limit and
// After are managed here), in id order, reading the ledger a page at a
// time so memory stays bounded by what fn keeps.
func (n *Node) forEachUsage(f ledger.UsageFilter, fn func(u *ledger.Usage)) error {
	f.Limit = usagePage
	for {
		page, err := n.store.ListUsage(f)
		if err != nil {
			return err
		}
		for i := range page {
			fn(&page[i])
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}

// settleQuery reads the counterparty, period and currency parameters.
func (n *Node) settleQuery(r *http.Request, needCounterparty bool) (account string, period settlement.Period, currency string, err error) {
	q := r.URL.Query()
	if needCounterparty {
		if account, err = n.resolveCounterparty(q.Get("counterparty"), false); err != nil {
			return
		}
	}
	if q.Get("period") == "" {
		err = badRequest("period is required: 2026-11, 2026-11-05 or START/END")
		return
	}
	if period, err = settlement.ParsePeriod(q.Get("period")); err != nil {
		err = badRequest("period: %v", err)
		return
	}
	currency = strings.ToUpper(q.Get("currency"))
	if currency != "" && !money.ValidCurrency(currency) {
		err = badRequest("currency %q: want an ISO 4217 code", q.Get("currency"))
	}
	return
}

func (n *Node) defaultCurrency(cdrs []settlement.CDR) string {
	for i := range cdrs {
		if cdrs[i].Rated() {
			return cdrs[i].Amount.Currency()
		}
	}
	if nw, err := n.store.Network(); err == nil && nw.Currency != "" {
		return nw.Currency
	}
	return "USD"
}

// statementConversion reads convert_to, rate, rate_date (2006-01-02) and
// rate_source: the dated exchange rate a statement in from is converted
// with (settlement.Statement.Convert records it on the statement). nil
// when convert_to is absent; rate parameters without convert_to are a
// bad request rather than silently ignored.
func statementConversion(r *http.Request, from string) (*settlement.ExchangeRate, error) {
	q := r.URL.Query()
	to := strings.ToUpper(q.Get("convert_to"))
	if to == "" {
		for _, p := range []string{"rate", "rate_date", "rate_source"} {
			if q.Has(p) {
				return nil, badRequest("%s without convert_to", p)
			}
		}
		return nil, nil
	}
	if q.Get("rate") == "" || q.Get("rate_date") == "" {
		return nil, badRequest("convert_to=%s needs rate and rate_date (2006-01-02)", to)
	}
	date, err := time.Parse("2006-01-02", q.Get("rate_date"))
	if err != nil {
		return nil, badRequest("rate_date=%q: want 2006-01-02", q.Get("rate_date"))
	}
	x, err := settlement.NewExchangeRate(from, to, q.Get("rate"), date, q.Get("rate_source"))
	if err != nil {
		return nil, badRequest("convert_to/rate: %v", err)
	}
	return &x, nil
}

// statementDirection reads direction: "sell" (what the counterparty owes
// us), "buy" (what we owe it) or "" (whichever the counterparty has; a
// counterparty with traffic both ways must name one).
func statementDirection(r *http.Request) (settlement.Direction, error) {
	switch d := settlement.Direction(r.URL.Query().Get("direction")); d {
	case "", settlement.Sell, settlement.Buy:
		return d, nil
	default:
		return "", badRequest("direction=%q: want sell or buy", d)
	}
}

// handleStatement is GET /v1/statements?counterparty=&period=&currency=
// &direction=sell|buy&format=json|csv|html|pdf[&issue_date=&due_days=][&convert_to=
// &rate=&rate_date=&rate_source=]. Without direction the statement is of
// the one direction the counterparty has traffic in (both: refused with
// reason direction_required). The document names this network as issuer
// and is dated issue_date (default: today, UTC).
func (n *Node) handleStatement(w http.ResponseWriter, r *http.Request) {
	st, format, err := func() (*settlement.Statement, string, error) {
		format := r.URL.Query().Get("format")
		if format == "" {
			format = "json"
		}
		if format != "json" && format != "csv" && format != "html" && format != "pdf" {
			return nil, "", badRequest("format=%q: want json, csv, html or pdf", format)
		}
		account, period, cur, err := n.settleQuery(r, true)
		if err != nil {
			return nil, "", err
		}
		dir, err := statementDirection(r)
		if err != nil {
			return nil, "", err
		}
		issued, err := n.issueDate(r)
		if err != nil {
			return nil, "", err
		}
		dueDays, dueGiven, err := dueDaysParam(r)
		if err != nil {
			return nil, "", err
		}
		// Check the conversion parameters before the ledger is read (the
		// source currency is checked again once known).
		if _, err := statementConversion(r, "XTS"); err != nil {
			return nil, "", err
		}
		if err := n.adminBarrier(r); err != nil {
			return nil, "", err
		}
		var cdrs []settlement.CDR
		seen := map[settlement.Direction]bool{}
		err = n.settleCDRsEach(account, period, func(d settlement.Direction, c settlement.CDR) {
			if dir == "" || d == dir {
				cdrs = append(cdrs, c)
				if c.Rated() {
					seen[d] = true
				}
			}
		})
		if err != nil {
			return nil, "", err
		}
		// Summing what a counterparty owes us with what we owe it would be a
		// number nobody owes: with traffic both ways a direction is required.
		if dir == "" && seen[settlement.Sell] && seen[settlement.Buy] {
			return nil, "", &reasonError{reasonDirectionRequired, badRequest("counterparty %s has traffic both ways in %s: give direction=sell (what it owes us) or direction=buy (what we owe it), or see /v1/netting", account, period)}
		}
		if dir == "" {
			// The one direction the counterparty has traffic in: the
			// document must say who pays (none: an empty period).
			switch {
			case seen[settlement.Sell]:
				dir = settlement.Sell
			case seen[settlement.Buy]:
				dir = settlement.Buy
			}
		}
		if cur == "" {
			cur = n.defaultCurrency(cdrs)
		}
		// Unrated CDRs (usage no deck could rate) are not owed: leave them
		// out rather than fail the statement; /v1/cdrs lists them.
		rated := cdrs[:0]
		for _, c := range cdrs {
			if c.Rated() {
				rated = append(rated, c)
			}
		}
		st, err := settlement.BuildStatement(rated, account, cur, period)
		if err != nil {
			return nil, "", badRequest("statement: %v", err)
		}
		x, err := statementConversion(r, cur)
		if err != nil {
			return nil, "", err
		}
		if x != nil {
			if st, err = st.Convert(*x); err != nil {
				return nil, "", badRequest("convert: %v", err)
			}
		}
		st.Heading = n.statementHeading(account, dir, issued)
		if dueGiven {
			st.Heading.Due = dueDate(issued, dueDays)
		}
		return st, format, nil
	}()
	if err != nil {
		n.adminFail(w, r, err)
		return
	}
	if format == "pdf" {
		w.Header().Set("Content-Disposition", `attachment; filename="statement-`+st.Number()+`.pdf"`)
	}
	n.renderAs(w, "statement", format, map[string]func(io.Writer) error{
		"json": st.WriteJSON, "csv": st.WriteCSV, "html": st.WriteHTML, "pdf": st.WritePDF,
	})
}

// issueDate reads issue_date (2006-01-02), the date a statement document
// carries; default today (UTC, the node's clock).
func (n *Node) issueDate(r *http.Request) (time.Time, error) {
	d := r.URL.Query().Get("issue_date")
	if d == "" {
		return n.cfg.Clock().UTC(), nil
	}
	t, err := time.Parse("2006-01-02", d)
	if err != nil {
		return time.Time{}, badRequest("issue_date=%q: want 2006-01-02", d)
	}
	return t, nil
}

// dueDaysParam reads due_days: when given it overrides the
// counterparty's payment terms (0: no due date); absent, the terms
// decide (statementHeading).
func dueDaysParam(r *http.Request) (days int, given bool, err error) {
	s := r.URL.Query().Get("due_days")
	if s == "" {
		return 0, false, nil
	}
	if days, err = strconv.Atoi(s); err != nil || days < 0 || days > ledger.MaxPaymentTermsDays {
		return 0, false, badRequest("due_days=%q: want 0 (no due date) to %d", s, ledger.MaxPaymentTermsDays)
	}
	return days, true, nil
}

// dueDate is the issue date plus an explicit due_days (0: none).
func dueDate(issued time.Time, days int) time.Time {
	if days == 0 {
		return time.Time{}
	}
	return issued.AddDate(0, 0, days)
}

// statementHeading names the parties of a statement from the ledger's
// settings: this network as the issuer (id, name, address, tax id and
// billing email) and the counterparty (the member's or peer's name and
// billing identity; no name leaves its id), and dates it: due the
// counterparty's payment terms after the issue date (its own terms, else
// the network's; neither: no due date).
func (n *Node) statementHeading(account string, dir settlement.Direction, issued time.Time) settlement.StatementHeading {
	h := settlement.StatementHeading{Direction: dir, Issued: issued}
	var ours, theirs ledger.BillingIdentity
	if nw, err := n.store.Network(); err == nil {
		h.Issuer = settlement.Party{ID: nw.ID, Name: nw.Name, PartyDetails: partyDetails(nw.BillingIdentity)}
		ours = nw.BillingIdentity
	}
	if id, ok := strings.CutPrefix(account, "member:"); ok {
		if m, err := n.store.Member(id); err == nil {
			h.CounterpartyName, theirs = m.Name, m.BillingIdentity
		}
	} else if id, ok := strings.CutPrefix(account, "peer:"); ok {
		if p, err := n.store.Peer(id); err == nil {
			h.CounterpartyName, theirs = p.Name, p.BillingIdentity
		}
	}
	h.CounterpartyDetails = partyDetails(theirs)
	if days, ok := ledger.PaymentTerms(ours, theirs); ok {
		h.Due = issued.AddDate(0, 0, days)
	}
	return h
}

// partyDetails is what a document prints of a billing identity.
func partyDetails(b ledger.BillingIdentity) settlement.PartyDetails {
	return settlement.PartyDetails{Address: b.Address, TaxID: b.TaxID, Email: b.BillingEmail}
}

// reconcileOptions reads tolerance, skew, volume_ratio and volume_minimum.
func reconcileOptions(r *http.Request, period, currency string) (settlement.ReconcileOptions, error) {
	q := r.URL.Query()
	o := settlement.ReconcileOptions{Period: period, Currency: currency}
	dur := func(name string) (time.Duration, error) {
		s := q.Get(name)
		if s == "" {
			return 0, nil
		}
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return d, nil
		}
		if v, err := strconv.Atoi(s); err == nil && v >= 0 {
			return time.Duration(v) * time.Second, nil
		}
		return 0, badRequest("%s=%q: want a duration such as 2s", name, s)
	}
	var err error
	if q.Has("tolerance") {
		if o.Tolerance, err = dur("tolerance"); err != nil {
			return o, err
		}
		if o.Tolerance == 0 {
			o.Tolerance = -1 // 0 means none here; the library's 0 means default
		}
	}
	if o.Skew, err = dur("skew"); err != nil {
		return o, err
	}
	for _, p := range []struct {
		name string
		dst  **apd.Decimal
	}{{"volume_ratio", &o.VolumeDisputeRatio}, {"volume_minimum", &o.VolumeDisputeMinimum}} {
		if s := q.Get(p.name); s != "" {
			d, err := money.ParseDecimal(s)
			if err != nil || d.Sign() < 0 {
				return o, badRequest("%s=%q: want a non-negative decimal", p.name, s)
			}
			*p.dst = d
		}
	}
	return o, nil
}

// writeReport renders a reconciliation report as json (default), csv or
// text. The header X-Ospnode-Dispute says whether a dispute was raised.
func (n *Node) writeReport(w http.ResponseWriter, r *http.Request, rep *settlement.Report) {
	format := r.URL.Query().Get("format")
	w.Header().Set("X-Ospnode-Dispute", strconv.FormatBool(rep.Decision.Disputed()))
	maxRec, _ := strconv.Atoi(r.URL.Query().Get("max_records"))
	if !r.URL.Query().Has("max_records") {
		maxRec = 20
	}
	n.renderAs(w, "report", format, map[string]func(io.Writer) error{
		"json": rep.WriteJSON, "csv": rep.WriteCSV,
		"text": func(w io.Writer) error { return rep.WriteText(w, maxRec) },
	})
}

func reportFormatOK(r *http.Request) error {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json", "csv", "text":
		return nil
	default:
		return badRequest("format=%q: want json, csv or text", f)
	}
}

// reconcileReport builds POST /v1/reconcile?counterparty=&period=[&tolerance=
// &skew=&currency=&columns=&time_layout=&duration_unit=&format=] with the
// counterparty's CDR CSV as the body: their CDRs against ours.
func (n *Node) reconcileReport(w http.ResponseWriter, r *http.Request) (*settlement.Report, error) {
	account, period, cur, err := n.settleQuery(r, true)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	cols, err := settlement.ParseColumnMap(q.Get("columns"))
	if err != nil {
		return nil, badRequest("columns: %v", err)
	}
	unit := q.Get("duration_unit")
	if unit != "" && unit != "s" && unit != "ms" {
		return nil, badRequest("duration_unit=%q: want s or ms", unit)
	}
	opts, err := reconcileOptions(r, period.String(), cur)
	if err != nil {
		return nil, err
	}
	theirs, err := settlement.ReadCDRs(csvBody(w, r), settlement.CDRFormat{Columns: cols,
		TimeLayout: q.Get("time_layout"), DurationUnit: unit, Currency: cur})
	if err != nil {
		if isTooLarge(err) || errors.Is(err, settlement.ErrTooLarge) {
			return nil, &httpError{http.StatusRequestEntityTooLarge, err}
		}
		return nil, badRequest("their CDRs: %v", err)
	}
	kept := theirs[:0]
	for _, c := range theirs {
		if period.Contains(c.ConnectTime) {
			kept = append(kept, c)
		}
	}
	if err := n.adminBarrier(r); err != nil {
		return nil, err
	}
	ours, err := n.settleCDRs(account, period)
	if err != nil {
		return nil, err
	}
	rep, err := settlement.Reconcile(ours, kept, opts)
	if err != nil {
		return nil, badRequest("reconcile: %v", err)
	}
	return rep, nil
}

// reconcileInternalReport builds GET /v1/reconcile/internal?period=: the
// source-role against the destination-role usage of the same
// transactions, comparing the durations each side reported (not the
// rated amounts, which differ by design: sell vs buy decks).
func (n *Node) reconcileInternalReport(w http.ResponseWriter, r *http.Request) (*settlement.Report, error) {
	_, period, _, err := n.settleQuery(r, false)
	if err != nil {
		return nil, err
	}
	opts, err := reconcileOptions(r, period.String(), "")
	if err != nil {
		return nil, err
	}
	if err := n.adminBarrier(r); err != nil {
		return nil, err
	}
	var cdrs []settlement.CDR
	conflicts := 0
	err = n.forEachUsage(ledger.UsageFilter{}, func(u *ledger.Usage) {
		if u.TransactionID == 0 || !period.Contains(usageTime(u)) {
			return
		}
		if u.Conflict {
			conflicts++
		}
		if !u.Settled() {
			return // a setup, interim, failed-attempt or conflicting record: not the call's
		}
		cdrs = append(cdrs, settlement.CDR{TransactionID: strconv.FormatUint(u.TransactionID, 10),
			CallID: u.CallID, Calling: u.Calling, Called: u.Called, ConnectTime: usageTime(u),
			DurationMillis: u.DurationMillis, Role: settlement.Role(u.Role.String()),
			Counterparty: u.Reporter, Line: int(u.ID)})
	})
	if err != nil {
		return nil, err
	}
	rep, err := settlement.ReconcileInternal(cdrs, opts)
	if err != nil {
		return nil, badRequest("reconcile: %v", err)
	}
	rep.Conflicts = conflicts
	return rep, nil
}
