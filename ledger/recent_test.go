package ledger

import (
	"fmt"
	"testing"
	"time"
)

// The rebuild scans walk back from the newest record, stop at their time
// cutoff (or count), and return what they read in log order.
func TestRecentScans(t *testing.T) {
	s := openTest(t)
	applyLog(t, s, fullLog(t)) // two transactions at t0+1h
	// Ten more calls, one a minute from t0+3h, each with its source final
	// a second later.
	base := t0.Add(3 * time.Hour)
	for i := range 10 {
		at := base.Add(time.Duration(i) * time.Minute)
		rs := apply1(t, s, Authorize{At: at, SourceMember: "a", MessageID: fmt.Sprintf("r%d", i), CallID: fmt.Sprintf("rc%d", i),
			Calling: "15550001", Called: "12125550100", TimeLimit: 60})
		mustOK(t, rs)
		mustOK(t, apply1(t, s, RecordUsage{At: at.Add(time.Second), TransactionID: rs[0].TransactionID, Role: RoleSource,
			ComponentID: "1", Reporter: MemberAccount("a"), Calling: "15550001", Called: "12125550100", CallID: fmt.Sprintf("rc%d", i),
			DurationMillis: 1000, Phase: PhaseFinal, Matched: true}))
	}
	for _, tc := range []struct {
		name            string
		since           time.Time
		atLeast, limit  int
		calls, usage    int
		firstCallMinute int // minutes after base of the first call returned (-1: an older one)
	}{
		{name: "everything", since: t0, limit: 100, calls: 12, usage: 10, firstCallMinute: -1},
		{name: "last five minutes", since: base.Add(5 * time.Minute), limit: 100, calls: 5, usage: 5, firstCallMinute: 5},
		{name: "limit wins", since: t0, limit: 3, calls: 3, usage: 3, firstCallMinute: 7},
		{name: "at least more than the span", since: base.Add(9 * time.Minute), atLeast: 4, limit: 100, calls: 1, usage: 4, firstCallMinute: 9},
		{name: "nothing that new", since: base.Add(time.Hour), limit: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, err := s.RecentCalls(tc.since, tc.limit)
			if err != nil || len(calls) != tc.calls {
				t.Fatalf("RecentCalls = %d, %v; want %d", len(calls), err, tc.calls)
			}
			for i := 1; i < len(calls); i++ {
				if calls[i].ID <= calls[i-1].ID {
					t.Fatalf("calls out of log order: %d after %d", calls[i].ID, calls[i-1].ID)
				}
			}
			if len(calls) > 0 {
				if tc.firstCallMinute >= 0 && !calls[0].CreatedAt.Equal(base.Add(time.Duration(tc.firstCallMinute)*time.Minute)) {
					t.Fatalf("first call at %s, want base+%dm", calls[0].CreatedAt, tc.firstCallMinute)
				}
			}
			us, err := s.UsageSince(tc.since, tc.atLeast, tc.limit)
			if err != nil || len(us) != tc.usage {
				t.Fatalf("UsageSince = %d, %v; want %d", len(us), err, tc.usage)
			}
			for i := 1; i < len(us); i++ {
				if us[i].ID != us[i-1].ID+1 {
					t.Fatalf("usage not the consecutive newest ids: %d after %d", us[i].ID, us[i-1].ID)
				}
			}
		})
	}
	first, err := s.FirstActivity()
	if err != nil || !first.Equal(t0.Add(time.Hour)) {
		t.Fatalf("FirstActivity = %s, %v; want the first authorisation's t0+1h", first, err)
	}
	if first, err := openTest(t).FirstActivity(); err != nil || !first.IsZero() {
		t.Fatalf("FirstActivity of an empty ledger = %s, %v; want zero", first, err)
	}
}

// A call the admission index still counts carries its ActiveUntil.
func TestRecentCallsActiveUntil(t *testing.T) {
	s := openTest(t)
	applyLog(t, s, fullLog(t))
	at := t0.Add(3 * time.Hour)
	until := at.Add(10 * time.Minute)
	rs := apply1(t, s, Authorize{At: at, SourceMember: "a", MessageID: "adm", CallID: "adm", Calling: "15550001",
		Called: "12125550100", TimeLimit: 300, ActiveUntil: until})
	mustOK(t, rs)
	calls, err := s.RecentCalls(at, 10)
	if err != nil || len(calls) != 1 || calls[0].ID != rs[0].TransactionID || !calls[0].ActiveUntil.Equal(until) {
		t.Fatalf("RecentCalls = %+v, %v; want the call with ActiveUntil %s", calls, err, until)
	}
}
