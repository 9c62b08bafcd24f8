package node

import (
	"io"
	"net/http"

	"github.com/ospnode/ospnode/settlement"
)

// handleNetting is GET /v1/netting?counterparty=&period=&format=json|csv|
// text|html|pdf[&issue_date=&due_days=]:
// the mutual traffic of this network and one member or peer for a period,
// netted per currency (SETTLEMENT.md). Both directions come from the same
// ledger walk the statements use (settleCDRsEach): the calls the
// counterparty originated (it owes us, our sell side) and the calls it
// terminated or we forwarded to it (we owe it, our buy side). Each side
// is totalled by settlement.BuildStatement per currency, and the invoice
// amounts are netted by settlement.Net. Unrated usage is left out, as in
// the statement. "Us" is the network id.
func (n *Node) handleNetting(w http.ResponseWriter, r *http.Request) {
	nt, format, err := func() (*settlement.Netting, string, error) {
		format := r.URL.Query().Get("format")
		if format == "" {
			format = "json"
		}
		if format != "json" && format != "csv" && format != "text" && format != "html" && format != "pdf" {
			return nil, "", badRequest("format=%q: want json, csv, text, html or pdf", format)
		}
		account, period, _, err := n.settleQuery(r, true)
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
		if r.URL.Query().Has("currency") {
			// Netting is per currency by construction: a filter would
			// hide half of a position.
			return nil, "", badRequest("currency: netting covers every currency; drop the parameter")
		}
		if err := n.adminBarrier(r); err != nil {
			return nil, "", err
		}
		var theyOwe, weOwe []settlement.CDR
		err = n.settleCDRsEach(account, period, func(d settlement.Direction, c settlement.CDR) {
			switch d {
			case settlement.Sell:
				theyOwe = append(theyOwe, c)
			case settlement.Buy:
				weOwe = append(weOwe, c)
			}
		})
		if err != nil {
			return nil, "", err
		}
		nt, err := settlement.BuildNetting(n.networkName(), account, period, theyOwe, weOwe)
		if err != nil {
			return nil, "", badRequest("netting: %v", err)
		}
		h := n.statementHeading(account, "", issued)
		nt.Heading = settlement.NettingHeading{UsName: h.Issuer.Name, ThemName: h.CounterpartyName, Issued: issued,
			UsDetails: h.Issuer.PartyDetails, ThemDetails: h.CounterpartyDetails, Due: h.Due}
		if dueGiven {
			nt.Heading.Due = dueDate(issued, dueDays)
		}
		return nt, format, nil
	}()
	if err != nil {
		n.adminFail(w, r, err)
		return
	}
	if format == "pdf" {
		w.Header().Set("Content-Disposition", `attachment; filename="netting-`+nt.Number()+`.pdf"`)
	}
	n.renderAs(w, "netting", format, map[string]func(io.Writer) error{
		"json": nt.WriteJSON, "csv": nt.WriteCSV, "text": nt.WriteText, "html": nt.WriteHTML, "pdf": nt.WritePDF,
	})
}

// networkName is this network's id as a party of a netting ("us" before
// the network is configured).
func (n *Node) networkName() string {
	if nw, err := n.store.Network(); err == nil && nw.ID != "" {
		return nw.ID
	}
	return "us"
}
