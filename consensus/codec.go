package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// entryVersion is the first byte of every log entry this package writes.
// Versions are never reused; an entry with an unknown version is a corrupt or
// newer log and the FSM refuses to guess (see fsm.go).
const entryVersion byte = 1

// errMalformed is returned by the decoders on truncated or inconsistent input.
var errMalformed = errors.New("consensus: malformed encoding")

// encodeBatch encodes cmds as: version byte, uvarint count, then per command
// a uvarint length and the bytes. The same layout carries results and
// forwarded batches.
func encodeBatch(cmds [][]byte) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		size += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, size)
	b = append(b, entryVersion)
	return appendCmds(b, cmds)
}

func appendCmds(b []byte, cmds [][]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// decodeBatch reverses encodeBatch. The returned slices alias b.
func decodeBatch(b []byte) ([][]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty entry", errMalformed)
	}
	if b[0] != entryVersion {
		return nil, fmt.Errorf("%w: unknown entry version %d", errMalformed, b[0])
	}
	cmds, rest, err := readCmds(b[1:])
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMalformed, len(rest))
	}
	return cmds, nil
}

func readCmds(b []byte) ([][]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad count", errMalformed)
	}
	b = b[k:]
	// Every command takes at least one byte (its length), which bounds the
	// allocation by the input size whatever the count claims.
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: count %d exceeds input", errMalformed, n)
	}
	cmds := make([][]byte, n)
	for i := range cmds {
		l, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, nil, fmt.Errorf("%w: bad length of command %d", errMalformed, i)
		}
		b = b[k:]
		if l > uint64(len(b)) {
			return nil, nil, fmt.Errorf("%w: command %d truncated", errMalformed, i)
		}
		cmds[i] = b[:l:l]
		b = b[l:]
	}
	return cmds, b, nil
}

// wbuf and rbuf are tiny helpers for the internal channel's message bodies.
type wbuf []byte

func (w *wbuf) uvarint(v uint64) { *w = binary.AppendUvarint(*w, v) }
func (w *wbuf) bytes(p []byte)   { w.uvarint(uint64(len(p))); *w = append(*w, p...) }
func (w *wbuf) str(s string)     { w.uvarint(uint64(len(s))); *w = append(*w, s...) }

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = fmt.Errorf("%w: bad varint", errMalformed)
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *rbuf) bytes() []byte {
	l := r.uvarint()
	if r.err != nil {
		return nil
	}
	if l > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated field", errMalformed)
		return nil
	}
	p := r.b[:l:l]
	r.b = r.b[l:]
	return p
}

func (r *rbuf) str() string { return string(r.bytes()) }

func (r *rbuf) cmds() [][]byte {
	if r.err != nil {
		return nil
	}
	c, rest, err := readCmds(r.b)
	if err != nil {
		r.err = err
		return nil
	}
	r.b = rest
	return c
}
