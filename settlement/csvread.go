package settlement

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// errLineTooLong is returned by boundedReader when a physical line exceeds
// its limit; the CSV readers turn it into a FieldError naming the line.
var errLineTooLong = errors.New("line too long")

// boundedReader fails once any physical line is longer than max bytes, so a
// file without newlines cannot make encoding/csv buffer it whole.
type boundedReader struct {
	r    *bufio.Reader
	max  int
	cur  int
	line int // physical lines completed
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			j = n - i // no newline: the rest continues the current line
		}
		if b.cur+j > b.max {
			return i + b.max - b.cur, errLineTooLong
		}
		if i+j == n {
			b.cur += j
			break
		}
		b.cur = 0
		b.line++
		i += j + 1
	}
	return n, err
}

// csvSource reads records with line numbers and a header index.
//
// Lines without a double quote — what CDR exports are, almost always — are
// split here, without encoding/csv (which copies each record into a new
// string and walks it rune by rune: ~40 % of reading a CDR file). At the
// first line with a quote the rest of the file goes to encoding/csv, which
// parses quoted fields (and fields spanning lines) exactly; the records are
// the same either way (FuzzCSVSourceMatchesEncodingCSV).
type csvSource struct {
	br     *boundedReader
	in     *bufio.Reader  // lines, over br
	cr     *csv.Reader    // after the first quote; nil before
	lines  int            // lines consumed by the fast path
	rec    []string       // reused record
	header map[string]int // lower-cased, trimmed name → column
	names  []string
	// stoppedTooLarge: nextRecord ended the file early at a line over the
	// byte limit (the rest of the file was not read).
	stoppedTooLarge bool
	// shared: records' strings are cut from one string per buffer of
	// input (chunk), not one allocation per line. Only for readers whose
	// records do not outlive the next few (RateStream): a record kept
	// keeps its whole chunk (~64 KiB) alive.
	shared bool
	chunk  string // a copy of the bytes buffered in `in`, not yet consumed
}

func newCSVSource(r io.Reader, maxLine int) *csvSource {
	br := &boundedReader{r: bufio.NewReaderSize(r, 64<<10), max: maxLine}
	return &csvSource{br: br, in: bufio.NewReaderSize(br, 64<<10)}
}

// read returns the next record and the line it starts on, or io.EOF, or
// encoding/csv's errors.
func (s *csvSource) read() ([]string, int, error) {
	for s.cr == nil {
		if s.shared {
			if rec, ok := s.readShared(); ok {
				return rec, s.lines, nil
			}
			if s.cr != nil {
				break
			}
		}
		line, err := s.in.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Longer than the buffer: boundedReader has refused it or is
			// about to; let encoding/csv take the rest.
			s.toCSV(line)
			break
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, 0, err // a line over the byte limit, a read error, or the end
		}
		if bytes.IndexByte(line, '"') >= 0 {
			s.toCSV(line)
			break
		}
		s.lines++
		// encoding/csv: a trailing \r\n is a newline, and a line that is
		// only a newline is skipped.
		n := len(line)
		if n > 0 && line[n-1] == '\n' {
			n--
			if n > 0 && line[n-1] == '\r' {
				n--
			}
		} else if n > 0 && line[n-1] == '\r' {
			n-- // a trailing \r before the end of the file is dropped too
		}
		if n == 0 && len(line) > 0 {
			if err != nil {
				return nil, 0, err
			}
			continue
		}
		s.split(string(line[:n])) // one string per record; fields share it
		return s.rec, s.lines, nil
	}
	rec, err := s.cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			pe.StartLine += s.lines
			pe.Line += s.lines
		}
		return nil, 0, err
	}
	line, _ := s.cr.FieldPos(0)
	return rec, line + s.lines, nil
}

// split cuts a quote-free line (without its newline) into s.rec.
func (s *csvSource) split(str string) {
	s.rec = s.rec[:0]
	for {
		if str != "" && (str[0] >= utf8.RuneSelf || asciiSpace[str[0]]) {
			str = strings.TrimLeftFunc(str, unicode.IsSpace) // as encoding/csv's TrimLeadingSpace
		}
		i := strings.IndexByte(str, ',')
		if i < 0 {
			s.rec = append(s.rec, str)
			return
		}
		s.rec = append(s.rec, str[:i])
		str = str[i+1:]
	}
}

// readShared is read's fast path for shared sources: the next line cut
// from s.chunk, one string allocation per buffer of input. ok is false
// when it cannot serve the line (no whole line in the chunk, a quote, an
// error), and read's general path takes it; s.cr is set if a quote handed
// the rest of the file to encoding/csv.
func (s *csvSource) readShared() (rec []string, ok bool) {
	for {
		if s.chunk == "" {
			if _, err := s.in.Peek(1); err != nil {
				return nil, false
			}
			b, _ := s.in.Peek(s.in.Buffered())
			s.chunk = string(b)
		}
		i := strings.IndexByte(s.chunk, '\n')
		if i < 0 {
			s.chunk = "" // a line across buffers: the general path reads it
			return nil, false
		}
		line := s.chunk[:i]
		s.chunk = s.chunk[i+1:]
		_, _ = s.in.Discard(i + 1)
		if strings.IndexByte(line, '"') >= 0 {
			s.chunk = ""
			s.toCSV([]byte(line + "\n"))
			return nil, false
		}
		s.lines++
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if line == "" {
			continue // encoding/csv skips an empty line
		}
		s.split(line)
		return s.rec, true
	}
}

// toCSV hands the rest of the input, starting with the unread line, to
// encoding/csv.
func (s *csvSource) toCSV(line []byte) {
	pending := append([]byte(nil), line...)
	s.cr = csv.NewReader(io.MultiReader(bytes.NewReader(pending), s.in))
	s.cr.FieldsPerRecord = -1
	s.cr.ReuseRecord = true
	s.cr.TrimLeadingSpace = true
}

// readHeader reads line 1 into the header index.
func (s *csvSource) readHeader() error {
	rec, _, err := s.read()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: empty file (want a header line)", ErrBadInput)
		}
		return s.wrap(err)
	}
	s.header = make(map[string]int, len(rec))
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		s.names = append(s.names, name)
		if name == "" {
			continue
		}
		if _, dup := s.header[name]; dup {
			return fmt.Errorf("%w: line 1: column %q appears twice", ErrBadInput, name)
		}
		s.header[name] = i
	}
	return nil
}

// next returns the next record and its line number, or io.EOF.
func (s *csvSource) next() ([]string, int, error) {
	rec, line, err := s.read()
	if err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, s.wrap(err)
	}
	return rec, line, nil
}

// nextRecord returns the next record that is not a blank line, and its
// line number, for the row loops of ReadCDRs and ReadDeck. A record the
// CSV reader cannot parse is added to errs and skipped (csv.Reader
// resumes on the next record). A line over the byte limit is added to
// errs and ends the file: io.EOF, with stoppedTooLarge set. Any other
// read error is returned as it is.
func (s *csvSource) nextRecord(errs *lineErrors) ([]string, int, error) {
	for {
		rec, line, err := s.next()
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		if err != nil {
			var fe FieldError
			if !errors.As(err, &fe) {
				return nil, 0, err
			}
			errs.add(fe.Line, fe.Field, fe.Value, fe.Err)
			if errors.Is(err, ErrTooLarge) {
				s.stoppedTooLarge = true
				return nil, 0, io.EOF
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		return rec, line, nil
	}
}

func (s *csvSource) wrap(err error) error {
	if errors.Is(err, errLineTooLong) {
		return FieldError{Line: s.br.line + 1, Err: fmt.Errorf("%w: longer than %d bytes", ErrTooLarge, s.br.max)}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return FieldError{Line: pe.Line, Err: fmt.Errorf("%w: %v", ErrBadInput, pe.Err)}
	}
	return fmt.Errorf("settlement: reading csv: %w", err)
}

// field returns column col of rec, trimmed ("" if the row is short).
func field(rec []string, col int) string {
	if col < 0 || col >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[col])
}

// timeLayouts are the layouts parseTime accepts when no layout is given.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// parseTime parses s with layout, or with the default layouts when layout is
// "". "unix" and "unixms" read epoch seconds / milliseconds. Values without a
// zone are in loc (UTC when nil).
func parseTime(s, layout string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	switch layout {
	case "unix", "unixms":
		n, err := parseInt(s)
		if err != nil {
			return time.Time{}, err
		}
		if layout == "unix" {
			if n < 0 || n > 1<<40 {
				return time.Time{}, fmt.Errorf("%w: epoch %q out of range", ErrBadInput, s)
			}
			return time.Unix(n, 0).UTC(), nil
		}
		if n < 0 || n > 1<<50 {
			return time.Time{}, fmt.Errorf("%w: epoch %q out of range", ErrBadInput, s)
		}
		return time.UnixMilli(n).UTC(), nil
	case "":
		if t, ok := parseUTCMillis(s); ok {
			return t, nil
		}
		for _, l := range timeLayouts {
			if t, err := time.ParseInLocation(l, s, loc); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("%w: time %q (want RFC 3339, \"2006-01-02 15:04:05\" or a date)", ErrBadInput, s)
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q does not match layout %q", ErrBadInput, s, layout)
	}
	return t, nil
}

// parseUTCMillis reads the one shape CDR exports (and settle rate's
// output) use most, 2006-01-02T15:04:05.000Z, without time.Parse's
// generic machinery: ~10 % of reading a CDR. It accepts only what
// time.RFC3339Nano (the first default layout) accepts, to the same instant;
// ok is false for anything else, which then goes the general way.
func parseUTCMillis(s string) (t time.Time, ok bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	ms, ok7 := digits(s[20:23])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > 28 && d > daysIn(mo, y) ||
		h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	secs := daysSinceEpoch(y, mo, d)*86400 + int64(h*3600+mi*60+sec)
	return time.Unix(secs, int64(ms)*1e6).UTC(), true
}

// digits parses a short run of decimal digits.
func digits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int(c)
	}
	return v, true
}

// daysIn is the number of days of month m (1–12) of year y.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the day number of a proleptic Gregorian date, 1970-01-01
// being 0 (H. Hinnant's days_from_civil), for the years 0–9999 of
// parseUTCMillis.
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := (y + 400) / 400 // y ≥ -1: shifted so the division floors
	era--
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseInt parses a non-negative decimal integer of at most 18 digits.
func parseInt(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, fmt.Errorf("%w: %q is not a whole number", ErrBadInput, s)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q is not a whole number", ErrBadInput, s)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseMillis parses "30", "30.5" or "30.123" seconds (unit "s") or whole
// milliseconds (unit "ms") into milliseconds, without floats. More than three
// fractional digits are refused rather than silently dropped.
func parseMillis(s, unit string) (int64, error) {
	if unit == "ms" {
		return parseInt(s)
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" && hasPoint {
		whole = "0"
	}
	w, err := parseInt(whole)
	if err != nil || w > 1<<40 {
		return 0, fmt.Errorf("%w: duration %q is not seconds (want e.g. 30 or 30.125)", ErrBadInput, s)
	}
	if hasPoint && (frac == "" || len(frac) > 3) {
		if len(frac) > 3 && strings.Trim(frac[3:], "0") == "" {
			frac = frac[:3]
		} else {
			return 0, fmt.Errorf("%w: duration %q: at most 3 decimals (milliseconds)", ErrBadInput, s)
		}
	}
	ms := w * 1000
	if frac != "" {
		f, err := parseInt(frac)
		if err != nil {
			return 0, fmt.Errorf("%w: duration %q is not seconds", ErrBadInput, s)
		}
		for i := len(frac); i < 3; i++ {
			f *= 10
		}
		ms += f
	}
	return ms, nil
}
