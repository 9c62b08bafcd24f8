package settlement

import (
	"encoding/csv"
	"io"
	"strconv"
)

// RejectColumns start every line of a rejects file; the record's own
// fields follow, under the input file's header, so a clerk can correct
// the records and feed the file again (with --columns naming the same
// columns; the three extra ones are ignored by name).
var RejectColumns = []string{"reject_line", "reject_reason", "reject_detail"}

// RejectWriter writes rejected records with their line and reason: the
// rejects file of `settle rate --rejects` and `settle statement --rejects`.
// Not safe for concurrent use.
type RejectWriter struct {
	cw  *csv.Writer
	rec []string
}

// NewRejectWriter writes the header: RejectColumns, then inputHeader.
func NewRejectWriter(w io.Writer, inputHeader []string) (*RejectWriter, error) {
	cw := csv.NewWriter(w)
	h := append(append([]string(nil), RejectColumns...), inputHeader...)
	if err := cw.Write(h); err != nil {
		return nil, err
	}
	return &RejectWriter{cw: cw}, nil
}

// Write writes e and the record's fields (nil when the CSV reader could
// not split the line: then only the line and reason say where it is).
func (w *RejectWriter) Write(e *RowError, fields []string) error {
	w.rec = append(w.rec[:0], strconv.Itoa(e.Line), e.Reason, e.Detail())
	w.rec = append(w.rec, fields...)
	return w.cw.Write(w.rec)
}

// Flush writes any buffered data and returns the first write error.
func (w *RejectWriter) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}
