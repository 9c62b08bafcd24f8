package osp

import (
	"strings"
	"testing"
	"time"
)

// TestTokenLimits: the exported bounds are exactly where Issue starts
// refusing, for every kind.
func TestTokenLimits(t *testing.T) {
	if MaxTokenCallIDBytes != 147 || MaxTokenNumberBytes != 197 {
		t.Fatalf("limits %d %d", MaxTokenCallIDBytes, MaxTokenNumberBytes)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	claims := func(calling, called, callID string) *TokenClaims {
		return &TokenClaims{Random: "1", Calling: calling, Called: called, CallID: []byte(callID),
			ValidAfter: now, ValidUntil: now.Add(time.Minute), TransactionID: 1, AuthorisedSeconds: 60}
	}
	for _, c := range []struct {
		name                  string
		calling, called, call string
		ok                    bool
	}{
		{"fits", strings.Repeat("1", MaxTokenNumberBytes), strings.Repeat("2", MaxTokenNumberBytes), strings.Repeat("c", MaxTokenCallIDBytes), true},
		{"calling over", strings.Repeat("1", MaxTokenNumberBytes+1), "2", "c", false},
		{"called over", "1", strings.Repeat("2", MaxTokenNumberBytes+1), "c", false},
		{"call-id over", "1", "2", strings.Repeat("c", MaxTokenCallIDBytes+1), false},
		{"calling space", "1404 872", "2", "c", false},
		{"called control", "1", "2\x01", "c", false},
		{"calling empty", "", "2", "c", false},
	} {
		cl := claims(c.calling, c.called, c.call)
		err := ValidateTokenClaims(cl)
		pre := CheckTokenNumber(c.calling)
		if pre == nil {
			pre = CheckTokenNumber(c.called)
		}
		if pre == nil {
			pre = CheckTokenCallID(cl.CallID)
		}
		if (err == nil) != c.ok || (pre == nil) != c.ok {
			t.Errorf("%s: ValidateTokenClaims %v, Check* %v, want ok=%v", c.name, err, pre, c.ok)
		}
	}
}
