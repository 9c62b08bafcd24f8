package settlement

import (
	"fmt"
	"strings"
	"time"
)

// Period is a half-open UTC interval [Start, End) with a name ("2026-11").
// The zero Period contains every time.
type Period struct {
	Name  string
	Start time.Time
	End   time.Time
}

// ParsePeriod parses a calendar month "2026-11", a day "2026-11-05", or
// "START/END" with dates or RFC 3339 times (END exclusive). All in UTC.
func ParsePeriod(s string) (Period, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Period{}, nil
	}
	if a, b, ok := strings.Cut(s, "/"); ok {
		start, err1 := parseTime(a, "", time.UTC)
		end, err2 := parseTime(b, "", time.UTC)
		if err1 != nil || err2 != nil || !end.After(start) {
			return Period{}, fmt.Errorf("%w: period %q (want START/END with END after START)", ErrBadInput, s)
		}
		return Period{Name: s, Start: start.UTC(), End: end.UTC()}, nil
	}
	if t, err := time.Parse("2006-01", s); err == nil {
		return Period{Name: s, Start: t, End: t.AddDate(0, 1, 0)}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return Period{Name: s, Start: t, End: t.AddDate(0, 0, 1)}, nil
	}
	return Period{}, fmt.Errorf("%w: period %q (want 2026-11, 2026-11-05 or START/END)", ErrBadInput, s)
}

// Contains reports whether t lies in the period.
func (p Period) Contains(t time.Time) bool {
	if p.Start.IsZero() && p.End.IsZero() {
		return true
	}
	return !t.Before(p.Start) && t.Before(p.End)
}

// String returns the name, or "all" for the zero Period.
func (p Period) String() string {
	if p.Name != "" {
		return p.Name
	}
	if p.Start.IsZero() && p.End.IsZero() {
		return "all"
	}
	return p.Start.Format(time.RFC3339) + "/" + p.End.Format(time.RFC3339)
}
