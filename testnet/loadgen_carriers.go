package testnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// CarrierProfile is how one simulated terminating carrier answers the
// calls routing offers it first: which share it answers, how long the
// answered calls last, how long it takes to ring (post-dial delay) and
// with which SIP status it fails the others. With a profile the source
// proxy reports as Kamailio's osp module does (testdata captures in
// node/testdata/kamailio-5.8.8): an answered call gets a setup record at
// answer (TCCode 200, Amount 0, start and connect times) and a final
// record at BYE (TCCode 10016, the duration, start and end times); a
// failed attempt gets one setup-time record with the SIP status in the
// q850-typed TCCode. Every record names the destination it went to
// (DestinationAlternate transport), which is how a server tells trunks
// apart.
type CarrierProfile struct {
	// AnswerRatio is the share of calls answered, 0..1.
	AnswerRatio float64 `json:"answerRatio"`
	// Durations of the answered calls (zero: LoadOptions.Durations).
	Durations DurationDist `json:"durations,omitzero"`
	// PDD is the post-dial delay, drawn uniformly in PDD ± PDDSpread.
	PDD       time.Duration `json:"pddNs,omitempty"`
	PDDSpread time.Duration `json:"pddSpreadNs,omitempty"`
	// Failures are the SIP statuses of the calls not answered, drawn by
	// weight (default: 503 only).
	Failures []FailureCause `json:"failures,omitempty"`
}

// FailureCause is one SIP failure status of a CarrierProfile and its
// weight among the profile's failures.
type FailureCause struct {
	SIP    int `json:"sip"`
	Weight int `json:"weight"`
}

func (p *CarrierProfile) validate() error {
	if p.AnswerRatio < 0 || p.AnswerRatio > 1 || p.AnswerRatio != p.AnswerRatio {
		return fmt.Errorf("answer ratio %v: want 0..1", p.AnswerRatio)
	}
	if p.PDD < 0 || p.PDDSpread < 0 || p.PDDSpread > p.PDD {
		return fmt.Errorf("pdd %v ± %v: want a non-negative delay and a spread no larger", p.PDD, p.PDDSpread)
	}
	for _, f := range p.Failures {
		if f.SIP < 300 || f.SIP > 699 || f.Weight <= 0 {
			return fmt.Errorf("failure %d (weight %d): want a SIP failure status 300..699 and a positive weight", f.SIP, f.Weight)
		}
	}
	return p.Durations.validate()
}

// outcome is what a profiled carrier does with one call.
type outcome struct {
	answered bool
	duration time.Duration
	pdd      time.Duration
	sip      int
}

// draw decides call seq's outcome on p, from its own generator (seeded by
// the run's Seed and seq), so a call's outcome does not depend on
// scheduling; base is the run's duration distribution.
func (p *CarrierProfile) draw(seed, seq uint64, base DurationDist) outcome {
	r := rand.New(rand.NewPCG(seed^0x5851f42d4c957f2d, seq))
	var o outcome
	o.answered = r.Float64() < p.AnswerRatio
	o.pdd = p.PDD
	if p.PDDSpread > 0 {
		o.pdd += time.Duration(r.Int64N(int64(2*p.PDDSpread)+1)) - p.PDDSpread
	}
	d := p.Durations
	if d == (DurationDist{}) {
		d = base
	}
	o.duration = max(d.Draw(r), time.Second)
	o.sip = 503
	total := 0
	for _, f := range p.Failures {
		total += f.Weight
	}
	if total > 0 {
		n := r.IntN(total)
		for _, f := range p.Failures {
			if n < f.Weight {
				o.sip = f.SIP
				break
			}
			n -= f.Weight
		}
	}
	return o
}

// carrierKey normalises a destination address to its IP ("[ip]:port",
// "[ip]" and "ip" alike); anything else is kept as given.
func carrierKey(addr string) string {
	s := strings.TrimSpace(addr)
	h := s
	if rest, ok := strings.CutPrefix(s, "["); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			h = rest[:i]
		}
	} else if hh, _, err := net.SplitHostPort(s); err == nil {
		h = hh
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return s
}

// DestinationResult counts the calls whose first offered destination was
// Address: how many, and how they ended.
type DestinationResult struct {
	Address  string `json:"address"`
	Offered  uint64 `json:"offered"`
	Answered uint64 `json:"answered"`
	Failed   uint64 `json:"failed"`
}

type destCount struct{ offered, answered, failed uint64 }

func (r *loadRun) countDest(addr string, answered, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byDest == nil {
		r.byDest = map[string]*destCount{}
	}
	k := carrierKey(addr)
	d := r.byDest[k]
	if d == nil {
		d = &destCount{}
		r.byDest[k] = d
	}
	d.offered++
	if answered {
		d.answered++
	}
	if failed {
		d.failed++
	}
}

// destinations returns the per-destination counts, by address.
func (r *loadRun) destinations() []DestinationResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]DestinationResult, 0, len(r.byDest))
	for a, d := range r.byDest {
		out = append(out, DestinationResult{Address: a, Offered: d.offered, Answered: d.answered, Failed: d.failed})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// profiledCall reports call c, authorised as ar and routed first to dest,
// as the carrier profile p decides: see CarrierProfile.
func (r *loadRun) profiledCall(ctx context.Context, client *osp.Client, c *Call, ar *osp.AuthorizationResponse, dest *osp.Destination,
	claims *osp.TokenClaims, tokErr error, p *CarrierProfile) {
	txid := ar.TransactionID
	if tokErr != nil {
		ok := r.usage(ctx, client, r.msgs[1], r.model.SourceUsage(c, txid, dest, true, true, r.opts.Now()), txid, osp.RoleSource)
		r.endAttempt(ok, dest, false)
		return
	}
	o := p.draw(r.opts.Seed, c.Seq, r.opts.Durations)
	now := r.opts.Now()
	if !o.answered {
		ok := r.usage(ctx, client, r.msgs[1], r.model.kamailioRecord(c, txid, dest, o, now, false), txid, osp.RoleSource)
		r.endAttempt(ok, dest, false)
		return
	}
	c.Duration = o.duration
	ok := r.usage(ctx, client, r.msgs[1], r.model.kamailioRecord(c, txid, dest, o, now, false), txid, osp.RoleSource) &&
		r.usage(ctx, client, r.msgs[1], r.model.kamailioRecord(c, txid, dest, o, now, true), txid, osp.RoleSource)
	okDest := ok && r.usage(ctx, r.clients[1][r.pick.next()], r.msgs[2], r.model.DestinationUsage(c, claims, dest, now), claims.TransactionID, osp.RoleDestination)
	if ok && okDest {
		r.completed.Add(1)
		r.countDest(dest.SignalAddress, true, false)
	} else {
		r.callErrors.Add(1)
		r.countDest(dest.SignalAddress, false, false)
	}
}

func (r *loadRun) endAttempt(ok bool, dest *osp.Destination, answered bool) {
	if ok {
		r.failedAttempts.Add(1)
	} else {
		r.callErrors.Add(1)
	}
	r.countDest(dest.SignalAddress, answered, ok)
}

// kamailioRecord is a source record of c as Kamailio's osp module sends
// it, ending at now: for an unanswered outcome the setup-time failure
// record (the SIP status as TCCode, start and, for a call that rang,
// alert time, no end); for an answered one the setup record at answer
// (final false: TCCode 200, Amount 0, start, alert and connect) or the
// final record at BYE (final true: TCCode 10016, the duration, start,
// alert and end). Both records of a call share messageId and componentId.
func (m *CallModel) kamailioRecord(c *Call, txid uint64, dest *osp.Destination, o outcome, now time.Time, final bool) *osp.Message {
	ci := m.sourceInfo(c.Calling, c.Called)
	ci.DestinationAlternate = destAlternates(dest)
	ci.SetupAttempt, ci.TotalSetupAttempts = 1, 1
	ud := &osp.UsageDetail{Service: &osp.Service{}, Amount: "0.000", Increment: 1, Unit: osp.UnitSeconds}
	switch {
	case !o.answered:
		ud.StartTime = now.Add(-o.pdd).Truncate(time.Second)
		if o.sip == 486 || o.sip == 480 || o.sip == 487 || o.sip == 603 {
			ud.AlertTime = ud.StartTime.Add(o.pdd)
		}
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: o.sip}}
		ud.ReleaseSource = "destination"
	case !final:
		d := CallDuration(c, dest, false)
		ud.StartTime = now.Add(-d - o.pdd)
		ud.AlertTime, ud.ConnectTime = ud.StartTime.Add(o.pdd), ud.StartTime.Add(o.pdd)
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: 200}}
		ud.ReleaseSource = "source"
	default:
		d := CallDuration(c, dest, false)
		ms := d.Milliseconds()
		ud.Amount = fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
		ud.StartTime = now.Add(-d - o.pdd)
		ud.AlertTime, ud.EndTime = ud.StartTime.Add(o.pdd), now
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: 10016}}
		ud.ReleaseSource = "source"
	}
	id := m.msgID(c.Seq, 1)
	return &osp.Message{MessageID: id, Random: fmt.Sprint(c.Seq + 1),
		Components: []osp.Component{{ID: id, UsageIndication: &osp.UsageIndication{
			Timestamp: now, Role: osp.RoleSource, TransactionID: txid, CallID: callIDOf(c, dest),
			CallInfo: ci, UsageDetail: ud,
		}}}}
}
