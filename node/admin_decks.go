package node

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// deckChunk is how many rows one PutDeckVersion command carries; a bigger
// version continues with AppendRows commands.
const deckChunk = 5000

// deckSummary is one entry of GET /v1/decks.
type deckSummary struct {
	ID           string    `json:"id"`
	Counterparty string    `json:"counterparty"`
	Direction    string    `json:"direction"`
	Currency     string    `json:"currency"`
	Decimals     int32     `json:"decimals"`
	Rounding     string    `json:"rounding_mode"`
	Versions     int       `json:"versions"`
	Rows         int       `json:"rows"` // of the latest version
	LatestFrom   time.Time `json:"latest_effective_from"`
}

// deckImportResult answers POST /v1/decks/{id}/versions.
type deckImportResult struct {
	DeckID       string      `json:"deck_id"`
	Counterparty string      `json:"counterparty"`
	Versions     []time.Time `json:"versions"` // effective_from of each imported version
	Rows         int         `json:"rows"`
	Commands     int         `json:"commands"`
}

func (n *Node) adminDeckRoutes(mux *http.ServeMux) {
	h := n.adminHandle
	mux.HandleFunc("GET /v1/decks", h(func(r *http.Request) (int, any, error) {
		ids, err := n.store.DeckIDs()
		if err != nil {
			return 0, nil, err
		}
		out := []deckSummary{}
		for _, id := range ids {
			vs, err := n.store.DeckVersions(id)
			if err != nil || len(vs) == 0 {
				continue
			}
			last := vs[len(vs)-1]
			out = append(out, deckSummary{ID: id, Counterparty: last.Counterparty, Direction: last.Direction,
				Currency: last.Currency, Decimals: last.Decimals, Rounding: last.RoundingMode, Versions: len(vs),
				Rows: len(last.Rows), LatestFrom: last.EffectiveFrom})
		}
		return http.StatusOK, out, nil
	}))
	mux.HandleFunc("GET /v1/decks/{id}", h(func(r *http.Request) (int, any, error) {
		vs, err := n.store.DeckVersions(r.PathValue("id"))
		if err != nil {
			return 0, nil, err
		}
		if len(vs) == 0 {
			return 0, nil, notFound("deck %q not found", r.PathValue("id"))
		}
		return http.StatusOK, vs, nil
	}))
	mux.HandleFunc("POST /v1/decks/{id}/versions", func(w http.ResponseWriter, r *http.Request) {
		code, v, err := n.importDeck(w, r)
		if err != nil {
			n.adminFail(w, r, err)
			return
		}
		writeJSON(w, code, v)
	})
}

// importDeck validates a deck CSV completely (settlement.ReadDeckCSV: any
// bad line rejects the whole file, naming line and field), checks that
// its deck-level settings agree with the versions already stored, then
// proposes each version: one PutDeckVersion with the first rows, then
// AppendRows commands for the rest.
func (n *Node) importDeck(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if id == "" || strings.ContainsAny(id, "/ ") {
		return 0, nil, badRequest("deck id %q", id)
	}
	cp, err := n.resolveCounterparty(q.Get("counterparty"), true)
	if err != nil {
		return 0, nil, err
	}
	dir := settlement.Direction(q.Get("direction"))
	if dir != settlement.Sell && dir != settlement.Buy {
		return 0, nil, badRequest("direction %q: want sell or buy", dir)
	}
	cur := strings.ToUpper(q.Get("currency"))
	if !money.ValidCurrency(cur) {
		return 0, nil, badRequest("currency %q: want an ISO 4217 code", q.Get("currency"))
	}
	dec, err := intParam(r, "decimals", 4, 0, settlement.MaxDecimals)
	if err != nil {
		return 0, nil, err
	}
	rounding := q.Get("rounding")
	if rounding == "" {
		rounding = money.HalfUp
	}
	if _, err := money.Rounder(rounding); err != nil {
		return 0, nil, badRequest("rounding %q: %v", rounding, err)
	}
	var dm settlement.DurationMode
	if s := q.Get("duration_rounding"); s != "" {
		if dm, err = settlement.ParseDurationMode(s); err != nil {
			return 0, nil, badRequest("duration_rounding: %v", err)
		}
	}
	deck, err := settlement.ReadDeckCSV(csvBody(w, r), settlement.DeckOptions{Counterparty: cp, Direction: dir,
		Currency: cur, Decimals: int32(dec), Rounding: rounding, DurationRounding: dm})
	if err != nil {
		if isTooLarge(err) || errors.Is(err, settlement.ErrTooLarge) {
			return 0, nil, &httpError{http.StatusRequestEntityTooLarge, err}
		}
		return 0, nil, badRequest("deck %s rejected, nothing imported: %v", id, err)
	}
	ledgerDir := ledger.DirectionSell
	if dir == settlement.Buy {
		ledgerDir = ledger.DirectionBuy
	}
	durText := ""
	if dm != "" && dm != settlement.DurationUp {
		durText = string(dm)
	}
	header := ledger.DeckVersion{DeckID: id, Counterparty: cp, Direction: ledgerDir, Currency: cur,
		Decimals: int32(dec), RoundingMode: deck.Rounding, DurationRounding: durText}
	if old, err := n.store.DeckVersions(id); err == nil && len(old) > 0 {
		o := old[0]
		if o.Counterparty != cp || o.Direction != ledgerDir || o.Currency != cur || o.Decimals != header.Decimals ||
			o.RoundingMode != header.RoundingMode || o.DurationRounding != durText {
			return 0, nil, conflict("deck %s exists with counterparty %s, direction %s, currency %s, %d decimals, rounding %s, duration rounding %q: a new version must keep them (or use another deck id)",
				id, o.Counterparty, o.Direction, o.Currency, o.Decimals, o.RoundingMode, o.DurationRounding)
		}
	}
	res := deckImportResult{DeckID: id, Counterparty: cp, Versions: []time.Time{}}
	for _, v := range deck.Versions {
		lv := header
		lv.EffectiveFrom, lv.EffectiveUntil = v.EffectiveFrom.UTC(), v.EffectiveUntil
		rows := make([]ledger.DeckRow, len(v.Rows))
		for i, row := range v.Rows {
			rows[i] = ledger.DeckRow{Prefix: row.Prefix, Description: row.Description, Rate: row.Rate,
				ConnectFee: row.ConnectFee, FirstIncrement: int(row.FirstIncrement), NextIncrement: int(row.NextIncrement)}
		}
		for i := 0; i < len(rows) || i == 0; i += deckChunk {
			part := lv
			part.Rows = rows[i:min(i+deckChunk, len(rows))]
			if _, err := n.adminApply(r, ledger.PutDeckVersion{Version: part, AppendRows: i > 0}); err != nil {
				if res.Commands > 0 {
					err = errors.Join(err, conflict("version %s of deck %s is partly imported (%d of %d rows): import the file again",
						lv.EffectiveFrom.Format(time.RFC3339), id, i, len(rows)))
				}
				return 0, nil, err
			}
			res.Commands++
		}
		res.Rows += len(rows)
		res.Versions = append(res.Versions, lv.EffectiveFrom)
	}
	return http.StatusOK, res, nil
}

// resolveCounterparty turns "carrier-a" into the account "member:carrier-a"
// (or "peer:X" for a peer); an account name ("member:…", "peer:…") passes
// through. With lenient, an unknown bare name is taken as a member that
// does not exist yet (decks may be loaded before their member).
func (n *Node) resolveCounterparty(s string, lenient bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", badRequest("counterparty is required (a member or peer id, or an account such as member:carrier-a)")
	}
	if strings.HasPrefix(s, "member:") || strings.HasPrefix(s, "peer:") {
		return s, nil
	}
	if _, err := n.store.Member(s); err == nil {
		return ledger.MemberAccount(s), nil
	}
	if _, err := n.store.Peer(s); err == nil {
		return ledger.PeerAccount(s), nil
	}
	if lenient {
		return ledger.MemberAccount(s), nil
	}
	return "", notFound("counterparty %q is neither a member nor a peer", s)
}
