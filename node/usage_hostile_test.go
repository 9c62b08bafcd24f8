package node

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestUsageHostileSequences plays the usage reports a member trying to be
// paid more than its call's worth would send (issue: "a destination can be
// paid many times for one call"), and the malformed reports that used to
// be recorded wrongly. Each case has its own call on the demo network.
func TestUsageHostileSequences(t *testing.T) {
	n := openDemo(t)
	a, b := client("127.0.0.1"), client("127.0.0.3")
	url := n.OSPURL()
	seq := 0
	call := func(t *testing.T) (uint64, string, int) {
		t.Helper()
		seq++
		callID := "hostile-" + strconv.Itoa(seq) + "@a.example"
		ar := authResponse(t, exchange(t, a, url, authRequest("h"+strconv.Itoa(seq), callID, called, 1)))
		if ar.Status.Code != osp.StatusOK || len(ar.Destinations) != 1 {
			t.Fatalf("authorisation: %+v", ar)
		}
		return ar.TransactionID, callID, ar.Destinations[0].TimeLimit()
	}
	final := func(msgID, comp, role string, tx uint64, callID, to, seconds string) *osp.Message {
		m := usageIndication(msgID, comp, role, tx, callID, to, seconds)
		ud := m.Components[0].UsageIndication.UsageDetail
		ud.ConnectTime = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		ud.EndTime = time.Now().UTC().Truncate(time.Second)
		return m
	}
	paid := func(t *testing.T, member string, tx uint64, role ledger.Role) (records int, ms int64, conflicts int) {
		t.Helper()
		for _, u := range txUsage(t, n, member, tx) {
			if u.Role != role {
				continue
			}
			if u.Conflict {
				conflicts++
			}
			if u.PostingID != 0 {
				records++
				if u.Rating != nil {
					ms = u.Rating.BillableSeconds * 1000
				}
			}
		}
		return records, ms, conflicts
	}

	t.Run("replays-under-fresh-component-ids", func(t *testing.T) {
		tx, callID, limit := call(t)
		for i := range 21 {
			m := final("r"+strconv.Itoa(i), "c"+strconv.Itoa(i), osp.RoleDestination, tx, callID, called, strconv.Itoa(limit))
			if i > 0 { // each replay claims a slightly different call, as a fraudster would
				m.Components[0].UsageIndication.UsageDetail.EndTime = m.Components[0].UsageIndication.UsageDetail.EndTime.Add(time.Duration(i) * time.Second)
			}
			if st := usageStatus(t, exchange(t, b, url, m)); st != osp.StatusOK {
				t.Fatalf("replay %d: status %d (kept, answered OK)", i, st)
			}
		}
		got, ms, conflicts := paid(t, DemoCarrierB, tx, ledger.RoleDestination)
		if got != 1 || ms > int64(limit)*1000 || conflicts != 20 {
			t.Fatalf("paid %d records for %d ms with %d conflicts; want 1 record ≤ %d s and 20 conflicts", got, ms, conflicts, limit)
		}
		if bal := balance(t, n.Store(), ledger.MemberAccount(DemoCarrierB)); bal != "-2.1600" {
			t.Fatalf("carrier-b is owed %s, want 2.1600 (one call of %d s at 0.018/min)", bal, limit)
		}
	})

	t.Run("over-the-time-limit-is-capped", func(t *testing.T) {
		tx, callID, limit := call(t)
		m := final("o1", "1", osp.RoleSource, tx, callID, called, strconv.Itoa(limit*3))
		if st := usageStatus(t, exchange(t, a, url, m)); st != osp.StatusOK {
			t.Fatalf("status %d", st)
		}
		if got, ms, _ := paid(t, DemoCarrierA, tx, ledger.RoleSource); got != 1 || ms != int64(limit)*1000 {
			t.Fatalf("paid %d records for %d ms, want 1 for the %d s authorised", got, ms, limit)
		}
	})

	t.Run("the-same-final-again-is-a-retry", func(t *testing.T) {
		tx, callID, _ := call(t)
		m := final("s1", "1", osp.RoleSource, tx, callID, called, "30")
		m2 := final("s1-other-ids", "99", osp.RoleSource, tx, callID, called, "30")
		m2.Components[0].UsageIndication.UsageDetail = m.Components[0].UsageIndication.UsageDetail
		for _, msg := range []*osp.Message{m, m, m2} {
			if st := usageStatus(t, exchange(t, a, url, msg)); st != osp.StatusOK {
				t.Fatalf("status %d", st)
			}
		}
		recs := txUsage(t, n, DemoCarrierA, tx)
		if len(recs) != 1 || recs[0].PostingID == 0 {
			t.Fatalf("records %+v, want the one paid final", recs)
		}
	})

	t.Run("usage-of-another-call", func(t *testing.T) {
		for _, c := range []struct {
			name           string
			callID, number string
		}{
			{"call-id", "someone-else@b.example", called},
			{"called-number", "", "16785550000"},
		} {
			tx, callID, _ := call(t)
			if c.callID != "" {
				callID = c.callID
			}
			m := final("m-"+c.name, "1", osp.RoleDestination, tx, callID, c.number, "60")
			if st := usageStatus(t, exchange(t, b, url, m)); st != osp.StatusOK {
				t.Fatalf("%s: status %d (kept as unmatched)", c.name, st)
			}
			recs := txUsage(t, n, DemoCarrierB, tx)
			if len(recs) != 1 || !recs[0].Unmatched || recs[0].Mismatch == "" || recs[0].PostingID != 0 || recs[0].Rating != nil {
				t.Fatalf("%s: records %+v, want one unmatched, unrated record", c.name, recs)
			}
		}
	})

	t.Run("source-report-from-the-terminator", func(t *testing.T) {
		tx, callID, _ := call(t)
		m := final("x1", "1", osp.RoleSource, tx, callID, called, "60")
		if st := usageStatus(t, exchange(t, b, url, m)); st != osp.StatusOK {
			t.Fatalf("status %d", st)
		}
		recs := txUsage(t, n, DemoCarrierB, tx)
		if len(recs) != 1 || !recs[0].Unmatched || recs[0].PostingID != 0 {
			t.Fatalf("records %+v, want one unmatched record", recs)
		}
	})

	t.Run("refused-reports", func(t *testing.T) {
		tx, callID, _ := call(t)
		for _, c := range []struct {
			name string
			body func() []byte
		}{
			{"negative-duration", func() []byte {
				return mustEncode(t, final("n1", "1", osp.RoleSource, tx, callID, called, "-0.5"))
			}},
			{"negative-zero", func() []byte {
				return mustEncode(t, final("n2", "1", osp.RoleSource, tx, callID, called, "-0"))
			}},
			{"year-0", func() []byte {
				m := final("y0", "1", osp.RoleSource, tx, callID, called, "30")
				m.Components[0].UsageIndication.UsageDetail.ConnectTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
				return mustEncode(t, m)
			}},
			{"year-9999", func() []byte {
				m := final("y9", "1", osp.RoleSource, tx, callID, called, "30")
				m.Components[0].UsageIndication.UsageDetail.EndTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
				return mustEncode(t, m)
			}},
			{"duplicate-destination-info", func() []byte {
				return bytes.Replace(mustEncode(t, final("d1", "1", osp.RoleSource, tx, callID, called, "30")),
					[]byte(`<DestinationInfo type="e164">`+called+`</DestinationInfo>`),
					[]byte(`<DestinationInfo type="e164">`+called+`</DestinationInfo><DestinationInfo type="e164">4420</DestinationInfo>`), 1)
			}},
			{"duplicate-timestamp", func() []byte {
				b := mustEncode(t, final("d2", "1", osp.RoleSource, tx, callID, called, "30"))
				i := bytes.Index(b, []byte("<Timestamp>"))
				j := bytes.Index(b, []byte("</Timestamp>")) + len("</Timestamp>")
				return append(append(append([]byte{}, b[:j]...), b[i:j]...), b[j:]...)
			}},
		} {
			code, comp := postStatus(t, a, url, c.body())
			if code != osp.StatusBadRequest || comp.UsageConfirmation == nil {
				t.Fatalf("%s: status %d, want %d", c.name, code, osp.StatusBadRequest)
			}
		}
		if recs := txUsage(t, n, DemoCarrierA, tx); len(recs) != 0 {
			t.Fatalf("refused reports were recorded: %+v", recs)
		}
	})

	t.Run("retried-authorisation-for-another-number", func(t *testing.T) {
		first := authResponse(t, exchange(t, a, url, authRequest("again-1", "again@a.example", called, 1)))
		if first.Status.Code != osp.StatusOK {
			t.Fatalf("first: %+v", first)
		}
		other := authResponse(t, exchange(t, a, url, authRequest("again-1", "again@a.example", "4420711234567", 1)))
		if other.Status.Code != osp.StatusBadRequest || len(other.Destinations) != 0 {
			t.Fatalf("same messageId and Call-ID for another number: %+v, want 400 and no tokens", other)
		}
		retry := authResponse(t, exchange(t, a, url, authRequest("again-1", "again@a.example", called, 1)))
		if retry.Status.Code != osp.StatusOK || retry.TransactionID != first.TransactionID {
			t.Fatalf("true retry: %+v, want transaction %d", retry, first.TransactionID)
		}
	})

	if rep, err := n.Store().Audit(); err != nil || !rep.OK {
		t.Fatalf("audit %+v: %v", rep, err)
	}
}
