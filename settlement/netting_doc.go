package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/internal/pdfdoc"
)

// NettingHeading names the two parties of a netting document and dates
// it: Netting.Us and Netting.Them stay the ids, these are the names a
// reader sees ("" shows the id).
type NettingHeading struct {
	UsName, ThemName string
	// UsDetails and ThemDetails are the two parties' addresses, tax ids
	// and billing emails (the network's and the member's or peer's).
	UsDetails   PartyDetails `json:",omitzero"`
	ThemDetails PartyDetails `json:",omitzero"`
	Issued      time.Time    `json:",omitzero"` // the zero time renders as "not stated"
	// Due is when the net falls due (zero: none shown; nor when nothing
	// is owed either way), as a statement's due date.
	Due time.Time `json:",omitzero"`
}

// Number is the netting statement's number, derived like
// Statement.Number (the same netting issued again gets the same number):
// US-YYYYMMDD-N-HASH over us, them and the period bounds.
func (nt *Netting) Number() string {
	h := sha256.New()
	for _, f := range []string{"netting", nt.Us, nt.Them, nt.Period.Start.UTC().Format(time.RFC3339Nano), nt.Period.End.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(strconv.Itoa(len(f)) + ":" + f + ";"))
	}
	us := numberPart(nt.Us)
	if us == "" {
		us = "NT"
	}
	day := "ALL"
	if !nt.Period.Start.IsZero() {
		day = nt.Period.Start.UTC().Format("20060102")
	}
	return us + "-" + day + "-N-" + strings.ToUpper(hex.EncodeToString(h.Sum(nil))[:10])
}

// nettingView is a Netting as its documents show it (HTML and PDF share it).
type nettingView struct {
	Number, Issued, Period string
	Due                    string // "" when none, or when no net is owed
	Us, Them               Party
	Parties                partiesView
	Empty                  bool
	Currencies             []nettingCurrencyView
	Class                  string // "sell" (they pay us), "buy" (we pay them) or "netting" (even, mixed or empty)
}

type nettingCurrencyView struct {
	Currency            string
	TheyOwe, WeOwe      string // the two debts in words
	TheyOweRow, WeOwRow []string
	Net                 string // who pays whom, in words
}

func (nt *Netting) view() nettingView {
	us := Party{ID: nt.Us, Name: nt.Heading.UsName, PartyDetails: nt.Heading.UsDetails}
	them := Party{ID: nt.Them, Name: nt.Heading.ThemName, PartyDetails: nt.Heading.ThemDetails}
	v := nettingView{Number: nt.Number(), Issued: "not stated", Period: nt.Period.PeriodText(), Us: us, Them: them, Parties: partiesView{us, them},
		Empty: len(nt.Positions) == 0, Class: "netting"}
	if !nt.Heading.Issued.IsZero() {
		v.Issued = nt.Heading.Issued.UTC().Format("2006-01-02")
	}
	name := func(id string) string {
		switch id {
		case nt.Us:
			return us.Display()
		case nt.Them:
			return them.Display()
		}
		return id
	}
	dirs := map[string]bool{}
	owed := false
	for _, r := range nt.rows() {
		owed = owed || r.Payer != ""
		cv := nettingCurrencyView{Currency: r.Currency,
			TheyOwe:    them.Display() + " owes " + us.Display() + " " + GroupedAmount(r.TheyOweUs) + " for " + callsText(r.TheyOweCalls) + " it sent (" + GroupDigits(r.TheyOweMinutes) + " min).",
			WeOwe:      us.Display() + " owes " + them.Display() + " " + GroupedAmount(r.WeOweThem) + " for " + callsText(r.WeOweCalls) + " it carried (" + GroupDigits(r.WeOweMinutes) + " min).",
			TheyOweRow: []string{them.Display() + " owes " + us.Display(), strconv.Itoa(r.TheyOweCalls), GroupDigits(r.TheyOweMinutes), GroupDigits(r.TheyOweUs.Text())},
			WeOwRow:    []string{us.Display() + " owes " + them.Display(), strconv.Itoa(r.WeOweCalls), GroupDigits(r.WeOweMinutes), GroupDigits(r.WeOweThem.Text())},
		}
		switch r.Payer {
		case "":
			cv.Net = "Net in " + r.Currency + ": even, nothing to pay either way."
			dirs["even"] = true
		default:
			cv.Net = "Net: " + name(r.Payer) + " pays " + name(r.Payee) + " " + GroupedAmount(r.Due) + "."
			dirs[r.Payer] = true
		}
		v.Currencies = append(v.Currencies, cv)
	}
	if owed && !nt.Heading.Due.IsZero() {
		v.Due = nt.Heading.Due.UTC().Format("2006-01-02")
	}
	if len(dirs) == 1 {
		switch {
		case dirs[nt.Them]:
			v.Class = "sell"
		case dirs[nt.Us]:
			v.Class = "buy"
		}
	}
	return v
}

func callsText(n int) string {
	if n == 1 {
		return "1 call"
	}
	return GroupDigits(strconv.Itoa(n)) + " calls"
}

// WriteHTML writes the netting statement as a self-contained page in
// the statement's style: per currency what each side owes the other, in
// words and in a table, and who pays whom the net; an empty period says so.
func (nt *Netting) WriteHTML(w io.Writer) error {
	return nettingPage.Execute(w, nt.view())
}

var nettingPage = template.Must(template.Must(template.New("netting").Parse(partiesTemplate)).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Netting statement {{.Number}}: {{.Us.Display}} and {{.Them.Display}}</title>
<style>
` + documentCSS + `</style></head>
<body class="{{.Class}}">
<div class="top">
<div>
<div class="kind">Netting statement</div>
<h1>{{.Us.Display}} and {{.Them.Display}}</h1>
{{if .Them.Name}}<div class="id">{{.Them.ID}}</div>{{end}}
</div>
<dl class="meta">
<dt>Issuer</dt><dd>{{.Us.Display}}{{if and .Us.Name .Us.ID}} <span class="id">({{.Us.ID}})</span>{{end}}</dd>
<dt>Statement no.</dt><dd id="number">{{.Number}}</dd>
<dt>Issue date</dt><dd>{{.Issued}}</dd>
{{with .Due}}<dt>Due date</dt><dd id="due">{{.}}</dd>
{{end}}<dt>Period</dt><dd id="period">{{.Period}}</dd>
</dl>
</div>
{{template "parties" .Parties}}{{if .Empty}}<p class="owes" id="owes">No rated calls between {{.Us.Display}} and {{.Them.Display}} in this period: nothing is owed either way.</p>
{{else}}{{range .Currencies}}<p class="owes">{{.Net}}</p>
<p class="dir">{{.TheyOwe}}<br>{{.WeOwe}}</p>
<div class="scroll"><table class="netting"><thead><tr><th class="l">{{.Currency}}</th><th>Calls</th><th>Minutes</th><th>Amount ({{.Currency}})</th></tr></thead><tbody>
<tr>{{range $i, $c := .TheyOweRow}}<td{{if eq $i 0}} class="l"{{end}}>{{$c}}</td>{{end}}</tr>
<tr>{{range $i, $c := .WeOwRow}}<td{{if eq $i 0}} class="l"{{end}}>{{$c}}</td>{{end}}</tr>
</tbody></table></div>
{{end}}{{end}}<p class="note">Each side is the invoice amount of its statement (the exact sum of its rated calls, rounded once to the currency's minor unit); the net is what they owe us minus what we owe them, per currency: currencies are never mixed. Times are UTC.</p>
</body></html>
`))

// WritePDF writes the netting statement as an A4 PDF with the page's
// words and figures (deterministic, as Statement.WritePDF).
func (nt *Netting) WritePDF(w io.Writer) error {
	v := nt.view()
	p := pdfdoc.New("Netting statement", v.Number, v.Us.Display(), nt.Heading.Issued)
	p.Font("B", 9)
	p.Cell(pdfdoc.Width, 5, "NETTING STATEMENT")
	p.Font("B", 18)
	p.MultiCell(pdfdoc.Width, 9, v.Us.Display()+" and "+v.Them.Display())
	p.Ln(3)
	issuer := v.Us.Display()
	if v.Us.Name != "" && v.Us.ID != "" {
		issuer += " (" + v.Us.ID + ")"
	}
	meta := []viewRow{{"Issuer", withDetails(issuer, v.Us)}, {"Counterparty", withDetails(v.Them.Display()+" ("+v.Them.ID+")", v.Them)}, {"Statement no.", v.Number},
		{"Issue date", v.Issued}}
	if v.Due != "" {
		meta = append(meta, viewRow{"Due date", v.Due})
	}
	p.Meta(pdfMeta(append(meta, viewRow{"Period", v.Period})))
	if v.Empty {
		p.Box("No rated calls between "+v.Us.Display()+" and "+v.Them.Display()+" in this period: nothing is owed either way.", 12, true, [3]int{244, 244, 244})
	}
	for _, c := range v.Currencies {
		p.Box(c.Net, 14, true, [3]int{244, 244, 244})
		p.Font("", 10)
		p.MultiCell(pdfdoc.Width, 5, c.TheyOwe)
		p.MultiCell(pdfdoc.Width, 5, c.WeOwe)
		p.Ln(2)
		rows := [][]string{c.TheyOweRow, c.WeOwRow}
		p.Table([]pdfdoc.Col{{Title: c.Currency, Width: 80, Align: "L"}, {Title: "Calls", Width: 25, Align: "R"}, {Title: "Minutes", Width: 35, Align: "R"}, {Title: "Amount (" + c.Currency + ")", Width: 40, Align: "R"}},
			len(rows), func(i int) []string { return rows[i] })
	}
	p.Note("Each side is the invoice amount of its statement (the exact sum of its rated calls, rounded once to the currency's minor unit); the net is what they owe us minus what we owe them, per currency: currencies are never mixed. Times are UTC.")
	return p.Output(w)
}
