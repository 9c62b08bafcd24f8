package settlement

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error this package returns wraps one of them (or a
// money error), so callers can branch with errors.Is.
var (
	// ErrNoPrefix: no row of the version in force matches the called number.
	ErrNoPrefix = errors.New("settlement: no matching prefix")
	// ErrNoVersion: no deck version is in force at the call's connect time.
	ErrNoVersion = errors.New("settlement: no deck version in force")
	// ErrBadNumber: the called number is not E.164 digits (an optional
	// leading '+' is accepted).
	ErrBadNumber = errors.New("settlement: called number is not E.164 digits")
	// ErrBadInput wraps every validation failure of a field, option or file.
	ErrBadInput = errors.New("settlement: invalid input")
	// ErrTooLarge: an input exceeds its configured bound (rows, line length).
	ErrTooLarge = errors.New("settlement: input too large")
)

// MaxListedErrors caps how many line errors a DeckError or CDRError lists;
// the rest are only counted, so a garbage file cannot make a huge error.
const MaxListedErrors = 50

// FieldError is one bad value in a CSV file: its 1-based line number (the
// header is line 1), the column, the offending value and why.
type FieldError struct {
	Line  int
	Field string
	Value string
	Err   error
}

// Error renders "line 7, field rate: ...".
func (e FieldError) Error() string {
	v := e.Value
	if len(v) > 40 {
		v = v[:40] + "…"
	}
	if e.Field == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, field %s (%q): %v", e.Line, e.Field, v, e.Err)
}

// Unwrap returns the cause.
func (e FieldError) Unwrap() error { return e.Err }

// lineErrors collects FieldErrors up to MaxListedErrors and counts the rest.
type lineErrors struct {
	Errors  []FieldError
	Omitted int
}

func (l *lineErrors) add(line int, field, value string, err error) {
	if len(l.Errors) >= MaxListedErrors {
		l.Omitted++
		return
	}
	l.Errors = append(l.Errors, FieldError{Line: line, Field: field, Value: value, Err: err})
}

func (l *lineErrors) count() int { return len(l.Errors) + l.Omitted }

func (l *lineErrors) render(what string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d error(s)", what, l.count())
	for _, e := range l.Errors {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	if l.Omitted > 0 {
		fmt.Fprintf(&b, "\n  … and %d more", l.Omitted)
	}
	return b.String()
}

// DeckError is returned by ReadDeckCSV when any line is bad: the whole deck
// is rejected and every bad line (up to MaxListedErrors) is listed.
// errors.Is(err, ErrBadInput) holds; errors.Is(err, ErrTooLarge) holds when a
// bound was exceeded.
type DeckError struct {
	Errors  []FieldError // first MaxListedErrors problems, in line order
	Omitted int          // problems beyond the cap
	tooBig  bool
}

func (e *DeckError) Error() string {
	l := lineErrors{e.Errors, e.Omitted}
	return l.render("rate deck rejected")
}

// Is makes errors.Is(err, ErrBadInput) (and ErrTooLarge) work.
func (e *DeckError) Is(target error) bool {
	return target == ErrBadInput || (target == ErrTooLarge && e.tooBig)
}

// CDRError is returned by ReadCDRs when any line is bad; it lists the bad
// lines like DeckError.
type CDRError struct {
	Errors  []FieldError
	Omitted int
	tooBig  bool
}

func (e *CDRError) Error() string {
	l := lineErrors{e.Errors, e.Omitted}
	return l.render("CDR file rejected")
}

// Is makes errors.Is(err, ErrBadInput) (and ErrTooLarge) work.
func (e *CDRError) Is(target error) bool {
	return target == ErrBadInput || (target == ErrTooLarge && e.tooBig)
}
