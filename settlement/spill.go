package settlement

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// spillFile is a temporary file of CDRs (and matches) in a compact binary
// form: what ReconcileStream partitions its inputs into. Every field
// round-trips exactly (connect time to the nanosecond, amounts as exact
// decimal text). The file is removed by remove.
type spillFile struct {
	f   *os.File
	w   *bufio.Writer
	n   int64 // records written
	buf []byte
}

func newSpillFile(dir, pattern string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("settlement: spill file: %w", err)
	}
	return &spillFile{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spillFile) remove() {
	if s == nil {
		return
	}
	s.f.Close()
	os.Remove(s.f.Name())
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendCDR(b []byte, c *CDR) []byte {
	for _, v := range [...]string{c.TransactionID, c.CallID, c.Calling, c.Called, string(c.Role),
		c.Counterparty, c.Prefix, c.Description, c.Currency, c.Network, c.PeerTransactionID} {
		b = appendString(b, v)
	}
	b = binary.AppendVarint(b, c.ConnectTime.UnixNano())
	b = binary.AppendVarint(b, c.DurationMillis)
	if c.HasBillable {
		b = append(b, 1)
		b = binary.AppendVarint(b, c.BillableSeconds)
	} else {
		b = append(b, 0)
	}
	if c.Rated() {
		b = appendString(b, c.Amount.Currency())
		b = appendString(b, c.Amount.Text())
	} else {
		b = appendString(b, "")
	}
	return binary.AppendVarint(b, int64(c.Line))
}

// write appends one CDR.
func (s *spillFile) write(c *CDR) error {
	s.buf = appendCDR(s.buf[:0], c)
	s.n++
	_, err := s.w.Write(s.buf)
	return err
}

// writeMatch appends one match: class, key, differences, then each side
// (a presence byte before each).
func (s *spillFile) writeMatch(m *Match) error {
	b := appendString(s.buf[:0], string(m.Class))
	b = appendString(b, string(m.Key))
	b = binary.AppendVarint(b, m.DiffSeconds)
	if m.DiffAmount.Currency() != "" {
		b = appendString(b, m.DiffAmount.Currency())
		b = appendString(b, m.DiffAmount.Text())
	} else {
		b = appendString(b, "")
	}
	for _, c := range [...]*CDR{m.Ours, m.Theirs} {
		if c == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = appendCDR(b, c)
	}
	s.buf = b
	s.n++
	_, err := s.w.Write(b)
	return err
}

// reader flushes what was written and returns a reader from the start.
func (s *spillFile) reader() (*spillReader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return &spillReader{r: bufio.NewReaderSize(s.f, 64<<10)}, nil
}

type spillReader struct {
	r   *bufio.Reader
	buf []byte
	err error
}

var errSpillCorrupt = errors.New("settlement: spill file corrupt")

func (r *spillReader) str() string {
	if r.err != nil {
		return ""
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.err = err
		return ""
	}
	if n > 1<<20 {
		r.err = errSpillCorrupt
		return ""
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.err = err
		return ""
	}
	return string(b)
}

func (r *spillReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(r.r)
	r.err = err
	return v
}

func (r *spillReader) byte() byte {
	if r.err != nil {
		return 0
	}
	b, err := r.r.ReadByte()
	r.err = err
	return b
}

func (r *spillReader) amount() money.Amount {
	cur := r.str()
	if cur == "" || r.err != nil {
		return money.Amount{}
	}
	a, err := money.New(r.str(), cur)
	if err != nil && r.err == nil {
		r.err = err
	}
	return a
}

// cdr reads one CDR; io.EOF at a clean end.
func (r *spillReader) cdr(c *CDR) error {
	var f [11]string
	for i := range f {
		f[i] = r.str()
		if i == 0 && r.err == io.EOF {
			return io.EOF
		}
	}
	*c = CDR{TransactionID: f[0], CallID: f[1], Calling: f[2], Called: f[3], Role: Role(f[4]),
		Counterparty: f[5], Prefix: f[6], Description: f[7], Currency: f[8], Network: f[9], PeerTransactionID: f[10]}
	c.ConnectTime = time.Unix(0, r.varint()).UTC()
	c.DurationMillis = r.varint()
	if r.byte() == 1 {
		c.HasBillable, c.BillableSeconds = true, r.varint()
	}
	c.Amount = r.amount()
	c.Line = int(r.varint())
	return r.fail()
}

// match reads one match written by writeMatch; io.EOF at a clean end.
func (r *spillReader) match(m *Match) error {
	class := r.str()
	if r.err == io.EOF {
		return io.EOF
	}
	*m = Match{Class: Class(class), Key: MatchKey(r.str()), DiffSeconds: r.varint()}
	m.DiffAmount = r.amount()
	m.AmountDiffers = m.DiffAmount.Currency() != "" && !m.DiffAmount.IsZero()
	for _, side := range [...]**CDR{&m.Ours, &m.Theirs} {
		if r.byte() == 1 {
			c := new(CDR)
			if err := r.cdr(c); err != nil {
				return r.failWith(err)
			}
			*side = c
		}
	}
	return r.fail()
}

func (r *spillReader) fail() error { return r.failWith(r.err) }

func (r *spillReader) failWith(err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated record", errSpillCorrupt)
	}
	return err
}
