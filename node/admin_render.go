package node

import (
	"io"
	"net/http"
)

// contentTypes maps the report formats of the admin API to their media types.
var contentTypes = map[string]string{
	"json": "application/json",
	"csv":  "text/csv; charset=utf-8",
	"text": "text/plain; charset=utf-8",
	"html": "text/html; charset=utf-8",
	"pdf":  "application/pdf",
}

// renderAs writes one report in format ("" = json) with the matching
// Content-Type, using the writer the caller offers for that format. Callers
// validate format before any work, so an unknown one falls back to json. A
// failure mid-body can no longer change the status: it is logged as what.
func (n *Node) renderAs(w http.ResponseWriter, what, format string, writers map[string]func(io.Writer) error) {
	write, ok := writers[format]
	if !ok {
		format, write = "json", writers["json"]
	}
	w.Header().Set("Content-Type", contentTypes[format])
	if err := write(w); err != nil {
		n.log.Warn("admin: write "+what, "err", err)
	}
}
