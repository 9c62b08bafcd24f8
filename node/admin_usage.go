package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// cdrPage is how many usage records one ledger read returns while a CDR
// listing streams.
const cdrPage = 2000

// transactionScan bounds a lookup of transactions by Call-ID: the most
// recent ones (there is no Call-ID index; support looks up recent calls).
const transactionScan = 200_000

func (n *Node) adminUsageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/cdrs", n.handleCDRs)
	mux.HandleFunc("GET /v1/transactions/{txid}", n.adminHandle(func(r *http.Request) (int, any, error) {
		tx, err := strconv.ParseUint(r.PathValue("txid"), 10, 64)
		if err != nil || tx == 0 {
			return 0, nil, badRequest("transaction id %q: want a positive integer", r.PathValue("txid"))
		}
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		recs, err := n.store.CallRecords(tx)
		if isNotFound(err) {
			return 0, nil, notFound("no transaction %d", tx)
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, recs, nil
	}))
	mux.HandleFunc("GET /v1/transactions", n.adminHandle(func(r *http.Request) (int, any, error) {
		callID := r.URL.Query().Get("call_id")
		if callID == "" {
			return 0, nil, badRequest("give call_id= (or GET /v1/transactions/{txid})")
		}
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		txs, err := n.store.TransactionsByCallID(callID, transactionScan)
		if err != nil {
			return 0, nil, err
		}
		out := []*ledger.CallRecords{}
		for _, t := range txs {
			recs, err := n.store.CallRecords(t.ID)
			if err != nil {
				return 0, nil, err
			}
			out = append(out, recs)
		}
		return http.StatusOK, map[string]any{"calls": out, "scanned": transactionScan}, nil
	}))
	mux.HandleFunc("GET /v1/calls/unfinished", n.adminHandle(func(r *http.Request) (int, any, error) {
		limit := 1000
		if v := r.URL.Query().Get("limit"); v != "" {
			l, err := strconv.Atoi(v)
			if err != nil || l <= 0 || l > 100000 {
				return 0, nil, badRequest("limit=%q: want 1 to 100000", v)
			}
			limit = l
		}
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		calls, err := n.store.UnfinishedCalls(n.now(), limit)
		if err != nil {
			return 0, nil, err
		}
		if calls == nil {
			calls = []ledger.UnfinishedCall{}
		}
		return http.StatusOK, map[string]any{"calls": calls, "count": len(calls)}, nil
	}))
	mux.HandleFunc("GET /v1/usage/{txid}", n.adminHandle(func(r *http.Request) (int, any, error) {
		tx, err := strconv.ParseUint(r.PathValue("txid"), 10, 64)
		if err != nil || tx == 0 {
			return 0, nil, badRequest("transaction id %q: want a positive integer", r.PathValue("txid"))
		}
		var role ledger.Role
		switch r.URL.Query().Get("role") {
		case "source":
			role = ledger.RoleSource
		case "destination":
			role = ledger.RoleDestination
		default:
			return 0, nil, badRequest("role=%q: want source or destination", r.URL.Query().Get("role"))
		}
		comp := r.URL.Query().Get("component")
		u, err := n.store.UsageByKey(tx, role, comp)
		if isNotFound(err) {
			// Maybe committed but not yet applied here: one barrier, then
			// look again, so that a confirmed usage is never reported
			// missing by a lagging follower.
			if err := n.adminBarrier(r); err != nil {
				return 0, nil, err
			}
			u, err = n.store.UsageByKey(tx, role, comp)
		}
		if isNotFound(err) {
			return 0, nil, notFound("no usage for transaction %d role %s component %q", tx, role, comp)
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, u, nil
	}))
}

// cdrFilter parses the query of GET /v1/cdrs.
func cdrFilter(r *http.Request) (ledger.UsageFilter, string, error) {
	q := r.URL.Query()
	var f ledger.UsageFilter
	var err error
	f.Member = q.Get("member")
	if f.From, err = timeParam(r, "from"); err != nil {
		return f, "", err
	}
	if f.To, err = timeParam(r, "to"); err != nil {
		return f, "", err
	}
	if num := q.Get("number"); num != "" {
		if f.CalledPrefix = normalizeNumber(num); f.CalledPrefix == "" {
			return f, "", badRequest("number %q: want E.164 digits (a prefix of the called number)", num)
		}
	}
	if f.UnmatchedOnly, err = boolParam(r, "unmatched"); err != nil {
		return f, "", err
	}
	if f.OverLimitOnly, err = boolParam(r, "over_limit"); err != nil {
		return f, "", err
	}
	if s := q.Get("after"); s != "" {
		if f.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return f, "", badRequest("after=%q: want the id of the last record seen", s)
		}
	}
	limit, err := intParam(r, "limit", 1000, 0, math.MaxInt32)
	if err != nil {
		return f, "", err
	}
	if limit == 0 {
		limit = math.MaxInt // 0: everything (streamed page by page)
	}
	f.Limit = limit
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return f, "", badRequest("format=%q: want json or csv", format)
	}
	return f, format, nil
}

// handleCDRs streams usage records (CDRs) after a read barrier, in id
// order, page by page from the ledger so that memory stays bounded. When
// limit records were returned, the JSON form ends with "next_after", the
// cursor of the next page ("" at the end). limit=0 streams every matching
// record (how CSV exports are taken: CSV carries no cursor).
// JSON gives the ledger records; CSV gives settlement CDR lines (the
// format `ospnode settle statement` and `ospnode reconcile` read back).
func (n *Node) handleCDRs(w http.ResponseWriter, r *http.Request) {
	f, format, err := cdrFilter(r)
	if err == nil {
		err = n.adminBarrier(r)
	}
	if err != nil {
		n.adminFail(w, r, err)
		return
	}
	limit := f.Limit
	// counterparty (CSV only): the lines of one member or peer, each with
	// that counterparty's side of the call (its deck's seconds and
	// amount, the id its network knows the call by): what we send it to
	// reconcile against.
	account := ""
	if cp := r.URL.Query().Get("counterparty"); cp != "" {
		if format != "csv" {
			n.adminFail(w, r, badRequest("counterparty: for format=csv (JSON lists the ledger's usage records whole)"))
			return
		}
		if account, err = n.resolveCounterparty(cp, false); err != nil {
			n.adminFail(w, r, err)
			return
		}
		if id, ok := strings.CutPrefix(account, "member:"); ok && f.Member == "" {
			f.Member = id // the member's usage index holds every line of it
		}
	}
	// Read the first page before writing the header, so an error still
	// gets a proper status.
	f.Limit = min(limit, cdrPage)
	page, err := n.store.ListUsage(f)
	if err != nil {
		n.adminFail(w, r, err)
		return
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
		_, _ = bw.WriteString(`{"cdrs":[`)
	}
	sent, last, first := 0, uint64(0), true
	var buf bytes.Buffer
	for {
		for i := range page {
			u := &page[i]
			last = u.ID
			if format == "csv" {
				if !u.CallRecord() {
					continue // CSV CDRs are one per call attempt: the final, not its setup record
				}
				buf.Reset()
				cdrs := n.usageCDRs(u, account)
				if err := settlement.WriteCDRs(&buf, cdrs); err != nil {
					n.abortStream(bw, err)
				}
				b := buf.Bytes()
				if !first {
					b = b[bytes.IndexByte(b, '\n')+1:] // header once
				}
				_, _ = bw.Write(b)
			} else {
				if !first {
					_ = bw.WriteByte(',')
				}
				b, _ := json.Marshal(u)
				_, _ = bw.Write(b)
			}
			first = false
		}
		sent += len(page)
		// A long export outlives the server's write timeout: extend it
		// page by page while the client keeps reading.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
		if len(page) < f.Limit || sent >= limit || r.Context().Err() != nil {
			break
		}
		f.After, f.Limit = last, min(limit-sent, cdrPage)
		if page, err = n.store.ListUsage(f); err != nil {
			n.abortStream(bw, err)
		}
	}
	if format == "csv" && first {
		buf.Reset()
		_ = settlement.WriteCDRs(&buf, nil)
		_, _ = bw.Write(buf.Bytes())
	}
	next := ""
	if sent >= limit && limit != math.MaxInt && last != 0 {
		next = strconv.FormatUint(last, 10)
	}
	if format == "json" {
		_, _ = bw.WriteString(`],"count":` + strconv.Itoa(sent) + `,"next_after":"` + next + `"}` + "\n")
	}
	_ = bw.Flush()
}

// abortStream ends a streamed response that failed half way: the
// connection is cut without the terminating chunk, so the client sees an
// unexpected EOF instead of a truncated file that looks complete.
func (n *Node) abortStream(bw *bufio.Writer, err error) {
	n.log.Error("admin: cdr export aborted", "err", err)
	_ = bw.Flush()
	panic(http.ErrAbortHandler)
}

// usageCDRs turns a ledger usage record into settlement CDRs: one per
// rated side (the sell side owed by SellCounterparty, the buy side owed to
// BuyCounterparty), or one unrated CDR of its reporter. counterparty, when
// not "", keeps only that account's CDRs. Each side carries its own
// deck's billable seconds, our network id (whose numbering the
// transaction id is) and, for a peer's side, the id that peer knows the
// call by (the upstream TransactionId of a call we forwarded to it).
// Prefix and description come from the deck row that rated the call.
func (n *Node) usageCDRs(u *ledger.Usage, counterparty string) []settlement.CDR {
	base := settlement.CDR{CallID: u.CallID, Calling: u.Calling, Called: u.Called,
		ConnectTime: usageTime(u), DurationMillis: u.DurationMillis, Role: settlement.Role(u.Role.String())}
	if u.TransactionID != 0 {
		base.TransactionID = strconv.FormatUint(u.TransactionID, 10)
	}
	if v, err := n.state.get(); err == nil {
		base.Network = v.network.ID
	}
	var out []settlement.CDR
	add := func(cp, deck string, secs int64, amt money.Amount) {
		if counterparty != "" && cp != counterparty {
			return
		}
		c := base
		c.Counterparty, c.BillableSeconds, c.HasBillable, c.Amount = cp, secs, true, amt
		if strings.HasPrefix(cp, "peer:") {
			c.PeerTransactionID = n.peerTransactionID(u.TransactionID, strings.TrimPrefix(cp, "peer:"))
		}
		if deck != "" {
			if _, row, err := n.store.LookupDeckRow(deck, c.ConnectTime, u.Called); err == nil {
				c.Prefix, c.Description = row.Prefix, row.Description
			}
		}
		out = append(out, c)
	}
	if rt := u.Rating; rt != nil {
		// Each side with its own deck's seconds: the counterparty's.
		if rt.SellCounterparty != "" && rt.Sell.Currency() != "" {
			add(rt.SellCounterparty, rt.SellDeckID, rt.SellSeconds(), rt.Sell)
		}
		if rt.BuyCounterparty != "" && rt.Buy.Currency() != "" {
			add(rt.BuyCounterparty, rt.BuyDeckID, rt.BuySeconds(), rt.Buy)
		}
	}
	if len(out) == 0 && (counterparty == "" || counterparty == u.Reporter) && (u.Rating == nil || counterparty == "") {
		c := base
		c.Counterparty = u.Reporter
		if u.Rating != nil {
			c.BillableSeconds, c.HasBillable = u.Rating.BillableSeconds, true
		}
		out = append(out, c)
	}
	return out
}

// peerTransactionID is the TransactionId peer gave transaction id (we
// forwarded the call to it), as text; "" when there is none.
func (n *Node) peerTransactionID(id uint64, peer string) string {
	if id == 0 {
		return ""
	}
	t, err := n.store.Transaction(id)
	if err != nil {
		return ""
	}
	if t.UpstreamPeer == peer && t.UpstreamTransactionID != 0 {
		return strconv.FormatUint(t.UpstreamTransactionID, 10)
	}
	for _, d := range t.Destinations {
		if d.Kind == ledger.DestPeer && d.ID == peer && d.PeerTransactionID != 0 {
			return strconv.FormatUint(d.PeerTransactionID, 10)
		}
	}
	return ""
}

// usageTime is the time a usage is settled at: its connect time, else its
// end minus the duration, else when it was recorded (what the usage path
// rates with and the ledger dates postings by).
func usageTime(u *ledger.Usage) time.Time {
	switch {
	case !u.Connect.IsZero():
		return u.Connect.UTC()
	case !u.End.IsZero():
		return u.End.Add(-time.Duration(u.DurationMillis) * time.Millisecond).UTC()
	}
	return u.RecordedAt.UTC()
}
