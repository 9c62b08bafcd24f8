package osp

import (
	"bytes"
	"testing"
)

func addCaptureSeeds(f *testing.F, add func(c capture)) {
	for _, n := range captureNames(f) {
		add(loadCapture(f, n))
	}
}

// FuzzDecode: Decode never panics, fails only with *Error, and whatever it
// accepts and Encode can write is stable: encoding the re-decoded message
// gives the same bytes.
func FuzzDecode(f *testing.F) {
	addCaptureSeeds(f, func(c capture) {
		if x, _, err := SplitSigned(c.contentType, c.body); err == nil {
			f.Add(x)
		} else {
			f.Add(c.body)
		}
	})
	f.Add([]byte(`<Message><Frob critical="false"><A/></Frob><UsageConfirmation componentId="1"/></Message>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, Limits{MaxBodyBytes: 64 << 10})
		if err != nil {
			if ErrorStatus(err) < 400 {
				t.Fatalf("error without an OSP failure code: %v", err)
			}
			return
		}
		enc, err := Encode(m)
		if err != nil {
			return // e.g. a response without Timestamp: not ours to send
		}
		m2, err := Decode(enc, Limits{})
		if err != nil {
			t.Fatalf("our encoding does not decode: %v\n%s", err, enc)
		}
		enc2, err := Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %v\n%s\n%s", err, enc, enc2)
		}
		if err := CheckToolkitRules(enc); err != nil {
			t.Fatalf("our encoding breaks a toolkit rule: %v\n%s", err, enc)
		}
	})
}

// FuzzDecodeBody covers the framing layer: content types and
// multipart/signed bodies.
func FuzzDecodeBody(f *testing.F) {
	addCaptureSeeds(f, func(c capture) { f.Add(c.contentType, c.body) })
	f.Add(`multipart/signed; boundary=b`, []byte("--b\r\nContent-Length: 99\r\n\r\nx\r\n--b\r\n\r\ns\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		_, err := DecodeBody(ct, body, Limits{MaxBodyBytes: 64 << 10})
		if err != nil && ErrorStatus(err) < 400 {
			t.Fatalf("untyped error: %v", err)
		}
		x, sig, err := SplitSigned(ct, body)
		if err == nil && (len(x) > len(body) || len(sig) > len(body)) {
			t.Fatal("a part larger than the body")
		}
	})
}
