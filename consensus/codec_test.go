package consensus

import (
	"bytes"
	"errors"
	"testing"
)

func TestBatchCodec(t *testing.T) {
	tests := []struct {
		name string
		cmds [][]byte
	}{
		{"one", [][]byte{[]byte("x")}},
		{"empty command", [][]byte{{}}},
		{"many", [][]byte{[]byte("a"), bytes.Repeat([]byte("b"), 300), {}, []byte("c")}},
		{"none", [][]byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := encodeBatch(tc.cmds)
			if enc[0] != entryVersion {
				t.Fatalf("version byte %d", enc[0])
			}
			got, err := decodeBatch(enc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.cmds) {
				t.Fatalf("%d commands, want %d", len(got), len(tc.cmds))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.cmds[i]) {
					t.Fatalf("command %d: %q", i, got[i])
				}
			}
		})
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"version":   {9, 0},
		"count":     {entryVersion, 5, 1, 'a'},
		"truncated": {entryVersion, 1, 3, 'a'},
		"trailing":  {entryVersion, 0, 0},
		"no count":  {entryVersion},
	} {
		if _, err := decodeBatch(bad); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err = %v, want errMalformed", name, err)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([][]byte{[]byte("a"), []byte("bc")}))
	f.Add([]byte{entryVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := decodeBatch(b)
		if err != nil {
			return
		}
		if re := encodeBatch(cmds); !bytes.Equal(re, b) {
			// Varints have one canonical encoding only when minimal; accept
			// a non-minimal input if it decodes to the same commands.
			again, err := decodeBatch(re)
			if err != nil || len(again) != len(cmds) {
				t.Fatalf("re-encoding does not round-trip: %x", b)
			}
		}
	})
}

// FuzzInternalRequest feeds the internal channel's body parser.
func FuzzInternalRequest(f *testing.F) {
	var w wbuf
	w.uvarint(1000)
	w.str("node-1")
	w.str("127.0.0.1:1")
	f.Add([]byte(w))
	f.Add(appendCmds([]byte{0x80, 0x01}, [][]byte{[]byte("x")}))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := rbuf{b: b}
		_ = r.uvarint()
		_ = r.str()
		_ = r.cmds()
		_ = r.bytes()
		if r.err != nil && !errors.Is(r.err, errMalformed) {
			t.Fatalf("untyped error %v", r.err)
		}
	})
}

func TestStatusMapping(t *testing.T) {
	for _, want := range []error{ErrNoQuorum, ErrTimeout} {
		st, msg := statusOf(want)
		if got := errOf(st, msg); !errors.Is(got, want) {
			t.Errorf("%v → %d → %v", want, st, got)
		}
	}
	st, msg := statusOf(ErrNotLeader)
	if got := errOf(st, msg); !errors.Is(got, errNotAppended) {
		t.Errorf("ErrNotLeader → %v, want retryable", got)
	}
	st, msg = statusOf(ErrClosed)
	if got := errOf(st, msg); !errors.Is(got, ErrNoQuorum) {
		t.Errorf("a closing leader → %v, want ErrNoQuorum", got)
	}
	st, msg = statusOf(errors.New("boom"))
	var rem *errRemote
	if got := errOf(st, msg); !errors.As(got, &rem) || rem.msg != "boom" {
		t.Errorf("other error → %v", got)
	}
}
