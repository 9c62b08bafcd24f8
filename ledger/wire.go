package ledger

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// errShort is returned by the reader on truncated or oversized input.
var errShort = errors.New("truncated or malformed field")

// maxField bounds any length prefix so a hostile length cannot allocate.
const maxField = 1 << 24

// wbuf is the append-only binary writer of the hot-path codecs: uvarints,
// length-prefixed strings, times as a presence flag plus UnixNano.
type wbuf struct{ b []byte }

func (w *wbuf) u(v uint64)   { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) i(v int64)    { w.b = binary.AppendVarint(w.b, v) }
func (w *wbuf) byte1(v byte) { w.b = append(w.b, v) }
func (w *wbuf) str(s string) {
	w.u(uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *wbuf) bytes(p []byte) {
	w.u(uint64(len(p)))
	w.b = append(w.b, p...)
}
func (w *wbuf) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *wbuf) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, 0)
		return
	}
	w.b = append(w.b, 1)
	w.i(t.UnixNano())
}

// amount writes currency then the plain decimal text ("" for the zero Amount).
func (w *wbuf) amount(a money.Amount) {
	w.str(a.Currency())
	if a.Currency() == "" && a.IsZero() {
		w.str("")
		return
	}
	w.str(a.Text())
}

// rbuf reads what wbuf writes; the first error sticks and every later read
// returns zero values, so decoders check err once at the end.
type rbuf struct {
	b   []byte
	err error

	// src, when set, is a string copy of the whole input (n bytes), and
	// str returns substrings of it: one allocation per decoded message
	// instead of one per field (see sharedRbuf).
	src string
	n   int
}

// sharedRbuf reads p with every string field sharing one copy of p. Use
// it for short messages whose fields are all kept (commands), not for
// records of which most strings are skipped.
func sharedRbuf(p []byte) rbuf { return rbuf{b: p, src: string(p), n: len(p)} }

func (r *rbuf) fail() {
	if r.err == nil {
		r.err = errShort
	}
	r.b = nil
}

func (r *rbuf) u() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) i() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) byte1() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *rbuf) raw() []byte {
	n := r.u()
	if r.err != nil {
		return nil
	}
	if n > maxField || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// fixed reads n raw bytes (no length prefix).
func (r *rbuf) fixed(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *rbuf) str() string {
	p := r.raw()
	if r.src == "" || len(p) == 0 {
		return string(p)
	}
	end := r.n - len(r.b)
	return r.src[end-len(p) : end]
}

func (r *rbuf) bool() bool {
	switch r.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

func (r *rbuf) time() time.Time {
	switch r.byte1() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, r.i()).UTC()
	}
	r.fail()
	return time.Time{}
}

func (r *rbuf) amount() money.Amount {
	cur := r.str()
	val := r.str()
	if r.err != nil {
		return money.Amount{}
	}
	if cur == "" && val == "" {
		return money.Amount{}
	}
	a, err := money.New(val, cur)
	if err != nil {
		r.err = err
		r.b = nil
		return money.Amount{}
	}
	return a
}

// count reads a slice length and checks it against what is left (each
// element takes at least min bytes), so a hostile count cannot allocate.
func (r *rbuf) count(min int) int {
	n := r.u()
	if r.err != nil {
		return 0
	}
	if n > math.MaxInt32 || n*uint64(min) > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *rbuf) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	return r.err
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func u64key(v uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], v)
	return k[:]
}
