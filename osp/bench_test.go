package osp

import (
	"strconv"
	"testing"
	"time"
)

func benchBody(b *testing.B, name string) []byte {
	c := loadCapture(b, name)
	return c.body
}

func fiveDestResponse() *Message {
	m := okResponse()
	d := m.Components[0].AuthorizationResponse.Destinations[0]
	d.Token = make([]byte, 160) // the size of a V=1 token
	for i := range d.Token {
		d.Token[i] = 'a' + byte(i%26)
	}
	ds := make([]Destination, 5)
	for i := range ds {
		ds[i] = d
		ds[i].SignalAddress = "[192.0.2." + strconv.Itoa(i+1) + "]:5060"
	}
	m.Components[0].AuthorizationResponse.Destinations = ds
	return m
}

// BenchmarkDecodeAuthorizationRequest decodes capture 01.
func BenchmarkDecodeAuthorizationRequest(b *testing.B) {
	body := benchBody(b, "01-AuthorizationRequest.minimal.http")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeAuthorizationResponse5 encodes a 5-destination response
// into a reused buffer, as the server does.
func BenchmarkEncodeAuthorizationResponse5(b *testing.B) {
	m := fiveDestResponse()
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendEncode(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDecodeUsageIndication2 decodes capture 07 (two fully populated
// UsageIndication components, 18 KB).
func BenchmarkDecodeUsageIndication2(b *testing.B) {
	body := benchBody(b, "07-UsageIndication.full-999-two-components.http")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestResponse is the server's codec work per authorisation:
// decode capture 01, encode a 5-destination response.
func BenchmarkRequestResponse(b *testing.B) {
	body := benchBody(b, "01-AuthorizationRequest.minimal.http")
	rsp := fiveDestResponse()
	rsp.Components[0].AuthorizationResponse.Timestamp = time.Now()
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	for b.Loop() {
		m, err := Decode(body, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		rsp.MessageID = m.MessageID
		if buf, err = AppendEncode(buf[:0], rsp); err != nil {
			b.Fatal(err)
		}
	}
}
