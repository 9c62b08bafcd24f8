package osp

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// TestReadRequestAllocatesWhatArrives: a body announced at 1 MiB − 1 of
// which only 100 bytes arrive costs memory for what arrived, not for what
// was announced; a complete body still reads whole.
func TestReadRequestAllocatesWhatArrives(t *testing.T) {
	stalled := errors.New("client stalled")
	req := func(body io.Reader, n int64) *http.Request {
		return &http.Request{Method: http.MethodPost, ContentLength: n, Header: http.Header{},
			Body: io.NopCloser(body)}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 20
	for range rounds {
		_, err := ReadRequest(req(io.MultiReader(strings.NewReader(strings.Repeat("x", 100)), errorReader{stalled}), 1<<20-1), Limits{})
		if !errors.Is(err, ErrFraming) || !strings.Contains(err.Error(), "client stalled") {
			t.Fatalf("stalled body: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("a stalled body announced at 1 MiB − 1 with 100 bytes sent: %d bytes allocated per request", per)
	if per > 64<<10 {
		t.Errorf("a stalled 1 MiB body allocated %d bytes per request; want what arrived (100 B) plus overhead, under 64 KiB", per)
	}

	body := `<?xml version="1.0"?><Message messageId="1" random="2"><CapabilitiesIndication componentId="c"><DeviceId>1</DeviceId></CapabilitiesIndication></Message>`
	padded := body + strings.Repeat(" ", 70000)
	for _, b := range []string{body, padded} {
		m, err := ReadRequest(req(iotestOneByte{strings.NewReader(b)}, int64(len(b))), Limits{})
		if err != nil || m.MessageID != "1" {
			t.Fatalf("%d-byte body read a byte at a time: %v", len(b), err)
		}
	}
	if _, err := ReadRequest(req(strings.NewReader(body[:50]), int64(len(body))), Limits{}); !errors.Is(err, ErrFraming) {
		t.Fatalf("short body: %v", err)
	}
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

// iotestOneByte returns one byte per Read.
type iotestOneByte struct{ r io.Reader }

func (o iotestOneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
