package settlement

import (
	"html/template"
	"io"
)

// WriteHTML writes the statement as a self-contained page (no external
// asset, no script) a finance team can read, print (A4) and send: issuer
// and counterparty by name, statement number, issue date, the period's
// bounds, who owes whom in words, the totals with the invoice rounding,
// a daily bar chart and table with every day of the period, and a table by
// destination. The layout is fluid (no fixed widths: it fits a phone and a
// desktop without scrolling sideways); bar heights are per mille of the
// busiest day, computed with integers and apd. A period without calls says
// so instead of showing zeros.
func (s *Statement) WriteHTML(w io.Writer) error {
	return statementPage.Execute(w, s.view())
}

var statementPage = template.Must(template.Must(template.New("statement").Parse(partiesTemplate)).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Statement {{.Number}}: {{.Owes}}</title>
<style>
` + documentCSS + `</style></head>
<body class="{{.Class}}">
<div class="top">
<div>
<div class="kind">{{.Kind}}</div>
<h1>Statement for {{.Them.Display}}</h1>
{{if .Them.Name}}<div class="id">{{.Them.ID}}</div>{{end}}
</div>
<dl class="meta">
<dt>Issuer</dt><dd>{{.Issuer.Display}}{{if and .Issuer.Name .Issuer.ID}} <span class="id">({{.Issuer.ID}})</span>{{end}}</dd>
<dt>Statement no.</dt><dd id="number">{{.Number}}</dd>
<dt>Issue date</dt><dd>{{.Issued}}</dd>
{{with .Due}}<dt>Due date</dt><dd id="due">{{.}}</dd>
{{end}}<dt>Period</dt><dd id="period">{{.Period}}</dd>
<dt>Currency</dt><dd>{{.S.Currency}}</dd>
</dl>
</div>
{{template "parties" .Parties}}
<p class="owes" id="owes">{{.Owes}}</p>
<p class="dir">{{.DirText}}</p>
{{if .Empty}}<p class="empty" id="empty">No calls with {{.Them.Display}} from {{.Period}}: there is nothing to settle on this statement.</p>
{{else}}<h2>Totals</h2>
<div class="scroll"><table class="totals" id="totals">
{{range $i, $r := .Totals}}<tr{{if eq $i 3}} class="invoice"{{end}}><th>{{$r.Label}}</th><td>{{$r.Value}}</td></tr>
{{end}}</table></div>
{{with .Conversion}}<p class="note">{{.}}</p>{{end}}
<h2>Daily minutes and amounts</h2>
{{if not .DaysComplete}}<p class="note">The period spans {{.PeriodDays}} days: only the days with calls are listed.</p>{{end}}
<div class="chart" id="chart" role="img" aria-label="daily minutes (blue) and amounts (orange), each scaled to its busiest day">
{{range .Days}}<div class="day{{if .Tick}} tick{{end}}" title="{{.Title}}"><div class="bars"><div class="bar min" style="height:{{.MinPct}}"></div><div class="bar amt" style="height:{{.AmtPct}}"></div></div><div class="lbl"><span>{{.Label}}</span></div></div>
{{end}}</div>
<p class="legend"><span class="sw" style="background:#3a7bd5"></span>minutes<span class="sw" style="background:#e08a1e"></span>amount (each scaled to its own busiest day)</p>
<h2>By day</h2>
<div class="scroll"><table id="by-day"><thead><tr><th class="l">Day (UTC)</th><th>Calls</th><th>Minutes</th><th>Amount ({{.S.Currency}})</th></tr></thead><tbody>
{{range .Days}}<tr><td class="l k">{{.Key}}</td><td>{{.Calls}}</td><td>{{.Minutes}}</td><td>{{.Amount}}</td></tr>
{{end}}</tbody></table></div>
<h2>By destination</h2>
<div class="scroll"><table id="by-destination"><thead><tr><th class="l">Prefix</th><th class="l">Destination</th><th>Calls</th><th>Minutes</th><th>Amount ({{.S.Currency}})</th></tr></thead><tbody>
{{range .Destinations}}<tr><td class="l">{{.Key}}</td><td class="l">{{.Description}}</td><td>{{.Calls}}</td><td>{{.Minutes}}</td><td>{{.Amount}}</td></tr>
{{end}}</tbody></table></div>
{{end}}<p class="note">Amounts are exact sums of the rated calls; the invoice amount is rounded once to the currency's minor unit and the difference is shown. Times are UTC.</p>
</body></html>
`))

// partiesTemplate prints the issuer and the counterparty side by side
// with their addresses, tax ids and billing emails, when either has any
// (a heading without them renders as before). Its data is a partiesView.
const partiesTemplate = `{{define "parties"}}{{if .Show}}<div class="parties">
<address id="issuer-address"><span class="role">Issuer</span><b>{{.Issuer.Display}}</b>{{range .Issuer.Lines}}<br>{{.}}{{end}}</address>
<address id="counterparty-address"><span class="role">Counterparty</span><b>{{.Them.Display}}</b>{{range .Them.Lines}}<br>{{.}}{{end}}</address>
</div>
{{end}}{{end}}`

// documentCSS styles the statement and netting pages: fluid (nothing has a
// fixed width; the chart is a flexbox whose bars share the width), day
// labels thinned on a phone, and A4 print rules.
const documentCSS = `*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1d;line-height:1.4;margin:0 auto;padding:1rem;max-width:62rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
.top{display:flex;flex-wrap:wrap;justify-content:space-between;gap:1rem}
.kind{text-transform:uppercase;letter-spacing:.06em;font-size:.8rem;font-weight:700}
.sell .kind{color:#1f6b2a}.buy .kind{color:#a4460f}.unknown .kind{color:#8a1c1c}
.id{font-size:.8rem;color:#666;overflow-wrap:anywhere}
dl.meta{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem .8rem;margin:0;font-size:.92rem}
dl.meta dt{color:#555}dl.meta dd{margin:0;overflow-wrap:anywhere}
.owes{font-size:1.35rem;font-weight:650;margin:1.2rem 0 .3rem;padding:.7rem 1rem;border-left:6px solid #999;background:#f4f4f4}
.sell .owes{border-color:#1f6b2a;background:#edf6ee}.buy .owes{border-color:#a4460f;background:#fbf0e8}
.dir{margin:0 0 1rem;color:#333}
.parties{display:flex;flex-wrap:wrap;gap:.6rem 2.5rem;margin:1rem 0 0}
.parties address{font-style:normal;flex:1 1 14rem;min-width:0;overflow-wrap:anywhere;font-size:.92rem}
.parties .role{display:block;color:#555;font-size:.8rem;text-transform:uppercase;letter-spacing:.05em}
.empty{font-size:1.1rem;padding:1rem;border:1px dashed #999}
.note{font-size:.85rem;color:#555}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:right;font-variant-numeric:tabular-nums;vertical-align:top}
th{background:#f3f3f3;font-weight:600}td.l,th.l{text-align:left}td.l{overflow-wrap:anywhere}
table.totals{max-width:36rem}table.totals th{text-align:left;background:none;font-weight:normal}
tr.invoice td,tr.invoice th{font-weight:700}
.chart{display:flex;align-items:stretch;gap:2px;height:11rem;border-bottom:1px solid #888;padding-top:.3rem;overflow:hidden}
.day{flex:1 1 0;min-width:0;display:flex;flex-direction:column}
.bars{flex:1;display:flex;align-items:flex-end;gap:1px}
.bar{flex:1 1 0;min-width:0}
.bar.min{background:#3a7bd5}.bar.amt{background:#e08a1e}
.lbl{font-size:10px;line-height:14px;height:14px;position:relative;white-space:nowrap;color:#444}
.lbl span{position:absolute;left:50%;transform:translateX(-50%)}.day:last-child .lbl span{left:auto;right:0;transform:none}.day:first-child .lbl span{left:0;transform:none}
td.k{white-space:nowrap}table.totals td{white-space:nowrap}
.legend{font-size:.85rem}.sw{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em}
@media (max-width:40rem){body{font-size:15px}.owes{font-size:1.15rem}.day:not(.tick) .lbl{visibility:hidden}th,td{padding:.25rem .25rem}table{font-size:.82rem}}
@page{size:A4;margin:15mm}
@media print{
 body{max-width:none;padding:0;font-size:10pt}
 .owes,.chart,.top,tr{break-inside:avoid}
 thead{display:table-header-group}
 .bar,.sw,.owes,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .scroll{overflow:visible}
}
`
