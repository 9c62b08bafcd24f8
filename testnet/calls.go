package testnet

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// Duration distributions of DurationDist.Kind.
const (
	DistExponential = "exponential"
	DistLognormal   = "lognormal"
)

// DurationDist is the distribution call durations are drawn from. The zero
// value is an exponential distribution with a mean of 180 s. Durations only
// go into usage records: the generator never waits them out.
type DurationDist struct {
	// Kind is DistExponential or DistLognormal ("" = exponential).
	Kind string
	// Mean is the mean duration (0 = 180 s).
	Mean time.Duration
	// Sigma is the lognormal shape (standard deviation of the log); 0 = 1.
	Sigma float64
}

func (d DurationDist) validate() error {
	switch d.Kind {
	case "", DistExponential, DistLognormal:
	default:
		return fmt.Errorf("testnet: duration distribution %q: want %s or %s", d.Kind, DistExponential, DistLognormal)
	}
	if d.Mean < 0 || d.Sigma < 0 || math.IsNaN(d.Sigma) {
		return errors.New("testnet: duration distribution: negative mean or sigma")
	}
	return nil
}

// Draw returns one duration, rounded to milliseconds (as carriers report
// them, "30.000" seconds).
func (d DurationDist) Draw(r *rand.Rand) time.Duration {
	mean := d.Mean
	if mean == 0 {
		mean = 180 * time.Second
	}
	var x float64
	switch d.Kind {
	case DistLognormal:
		s := d.Sigma
		if s == 0 {
			s = 1
		}
		// E[exp(N(mu, s²))] = exp(mu + s²/2): choose mu for the mean.
		mu := math.Log(mean.Seconds()) - s*s/2
		x = math.Exp(mu + s*r.NormFloat64())
	default:
		x = mean.Seconds() * r.ExpFloat64()
	}
	if x > 86400 { // a day: keeps absurd tails out of the records
		x = 86400
	}
	return time.Duration(x * 1000 * float64(time.Millisecond)).Round(time.Millisecond)
}

// Party is the identity a simulated proxy puts in its messages, as the OSP
// Toolkit does: CustomerId and DeviceId (critical="false"), DeviceInfo of
// type transport (its own signalling address, e.g. "[127.0.0.1]:5060") and
// an optional SourceAlternate of type network. Bind is the local IP the
// proxy's requests leave from (servers such as ospnode identify members by
// source address: give each role its own loopback address, e.g. 127.0.0.2).
// The terminating proxy's Bind may be BindSignal: its requests then leave
// from the IP of each call's routed destination, as when every carrier of
// a loopback testnet has its own 127.x address.
type Party struct {
	CustomerID string `json:"customerId,omitempty"`
	DeviceID   string `json:"deviceId,omitempty"`
	Address    string `json:"address,omitempty"`
	NetworkID  string `json:"networkId,omitempty"`
	Bind       string `json:"bind,omitempty"`
}

// BindSignal as the terminating Party's Bind sends each call's
// destination usage from the IP of its destination's signal address.
const BindSignal = "signal"

// CallModel builds the OSP messages of simulated calls. Everything random
// about call number seq (numbers, failure, duration) is drawn from a
// generator seeded by (Seed, seq), so a call is the same whatever the
// scheduling; RunID only makes Call-IDs and message ids unique per run, so
// that a server's idempotency does not answer a second run from its ledger.
// A CallModel is immutable once built and safe for concurrent use.
type CallModel struct {
	Calling, Called *NumberPlan
	MaxDestinations int
	FailRatio       float64
	Durations       DurationDist
	Source          Party
	// Destination is the terminating proxy's identity; an empty Address
	// means the address of the destination the call was routed to.
	Destination Party
	Seed        uint64
	RunID       uint64
}

// Call is one simulated call.
type Call struct {
	Seq      uint64
	Calling  string
	Called   string
	CallID   []byte
	Fail     bool          // the attempt fails (reported with a failure cause, zero duration)
	Duration time.Duration // conversation time when it does not fail
}

// NewCall draws call number seq.
func (m *CallModel) NewCall(seq uint64) Call {
	r := rand.New(rand.NewPCG(m.Seed, seq))
	c := Call{Seq: seq}
	c.Calling = m.Calling.Number(r)
	c.Called = m.Called.Number(r)
	c.Fail = r.Float64() < m.FailRatio
	c.Duration = m.Durations.Draw(r)
	c.CallID = fmt.Appendf(make([]byte, 0, 48), "%016x-%d@ospnode-bench", m.RunID, seq)
	return c
}

// msgID returns the decimal id of message k (0 auth, 1 source usage, 2
// destination usage) of call seq: unique within the run and, through
// RunID, across runs.
func (m *CallModel) msgID(seq uint64, k uint64) string {
	return fmt.Sprintf("%06d%013d", m.RunID%1e6+1, seq*3+k)
}

// AuthorizationRequest is the request the source proxy sends for c.
func (m *CallModel) AuthorizationRequest(c *Call, now time.Time) *osp.Message {
	id := m.msgID(c.Seq, 0)
	ar := &osp.AuthorizationRequest{
		Timestamp:           now,
		CallIDs:             []osp.Binary{c.CallID},
		CallInfo:            m.sourceInfo(c.Calling, c.Called),
		Service:             &osp.Service{},
		MaximumDestinations: m.MaxDestinations,
	}
	return &osp.Message{MessageID: id, Random: strconv.FormatUint(c.Seq+1, 10),
		Components: []osp.Component{{ID: id, AuthorizationRequest: ar}}}
}

func (m *CallModel) sourceInfo(calling, called string) osp.CallInfo {
	ci := osp.CallInfo{
		SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
		DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: called}},
		CustomerID:      m.Source.CustomerID,
		DeviceID:        m.Source.DeviceID,
	}
	if m.Source.Address != "" {
		ci.DeviceInfo = osp.TypedValues{{Type: osp.TypeTransport, Value: m.Source.Address}}
	}
	if m.Source.NetworkID != "" {
		ci.SourceAlternate = osp.TypedValues{{Type: osp.TypeNetwork, Value: m.Source.NetworkID}}
	}
	return ci
}

// Termination causes the generator reports.
var (
	causeNormal   = osp.TerminationCause{Type: "q850", Code: 16, Description: "normal call clearing"}
	causeNoCircut = osp.TerminationCause{Type: "q850", Code: 34, Description: "no circuit available"}
	causeRejected = osp.TerminationCause{Type: "q850", Code: 21, Description: "call rejected"}
)

// SourceUsage is the source role's UsageIndication for c routed to dest
// under transaction txid. failed reports a failed attempt (zero duration,
// a failure cause); tokenRefused says the terminating side refused the
// token (cause 21 instead of 34).
func (m *CallModel) SourceUsage(c *Call, txid uint64, dest *osp.Destination, failed, tokenRefused bool, now time.Time) *osp.Message {
	ci := m.sourceInfo(c.Calling, c.Called)
	ci.DestinationAlternate = destAlternates(dest)
	ci.SetupAttempt, ci.TotalSetupAttempts = 1, 1
	ud := m.usageDetail(c, dest, failed, tokenRefused, now, "source")
	id := m.msgID(c.Seq, 1)
	return &osp.Message{MessageID: id, Random: strconv.FormatUint(c.Seq+1, 10),
		Components: []osp.Component{{ID: id, UsageIndication: &osp.UsageIndication{
			Timestamp: now, Role: osp.RoleSource, TransactionID: txid, CallID: callIDOf(c, dest),
			CallInfo: ci, UsageDetail: ud,
		}}}}
}

// DestinationUsage is the destination role's UsageIndication for c, as the
// terminating proxy reports it: with the TransactionId, numbers and
// Call-ID of the token it validated.
func (m *CallModel) DestinationUsage(c *Call, claims *osp.TokenClaims, dest *osp.Destination, now time.Time) *osp.Message {
	p := m.Destination
	if p.Address == "" {
		p.Address = dest.SignalAddress
	}
	ci := osp.CallInfo{
		SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: claims.Calling}},
		DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: claims.Called}},
		DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: p.Address}},
		CustomerID:      p.CustomerID,
		DeviceID:        p.DeviceID,
	}
	if m.Source.Address != "" {
		ci.SourceAlternate = osp.TypedValues{{Type: osp.TypeTransport, Value: m.Source.Address}}
	}
	if p.NetworkID != "" {
		ci.DestinationAlternate = osp.TypedValues{{Type: osp.TypeNetwork, Value: p.NetworkID}}
	}
	callID := claims.CallID
	if string(callID) == osp.TokenCallIDUndefined {
		callID = callIDOf(c, dest)
	}
	id := m.msgID(c.Seq, 2)
	return &osp.Message{MessageID: id, Random: strconv.FormatUint(c.Seq+1, 10),
		Components: []osp.Component{{ID: id, UsageIndication: &osp.UsageIndication{
			Timestamp: now, Role: osp.RoleDestination, TransactionID: claims.TransactionID, CallID: callID,
			CallInfo: ci, UsageDetail: m.usageDetail(c, dest, false, false, now, "destination"),
		}}}}
}

func callIDOf(c *Call, dest *osp.Destination) osp.Binary {
	if len(dest.CallID) > 0 {
		return dest.CallID
	}
	return c.CallID
}

func destAlternates(d *osp.Destination) osp.TypedValues {
	tv := osp.TypedValues{{Type: osp.TypeTransport, Value: d.SignalAddress}}
	if d.NetworkID != "" {
		tv = append(tv, osp.TypedValue{Type: osp.TypeNetwork, Value: d.NetworkID})
	}
	return tv
}

// CallDuration is c's reported duration on dest: zero for a failed attempt,
// else the drawn duration capped at the destination's time limit.
func CallDuration(c *Call, dest *osp.Destination, failed bool) time.Duration {
	if failed {
		return 0
	}
	d := c.Duration
	if lim := dest.TimeLimit(); lim > 0 && d > time.Duration(lim)*time.Second {
		d = time.Duration(lim) * time.Second
	}
	return d
}

// usageDetail reports the call as just ended at now (start = now −
// duration), so no timestamp lies in the future.
func (m *CallModel) usageDetail(c *Call, dest *osp.Destination, failed, tokenRefused bool, now time.Time, release string) *osp.UsageDetail {
	d := CallDuration(c, dest, failed)
	ms := d.Milliseconds()
	ud := &osp.UsageDetail{
		Service:   &osp.Service{},
		Amount:    fmt.Sprintf("%d.%03d", ms/1000, ms%1000),
		Increment: 1,
		Unit:      osp.UnitSeconds,
		EndTime:   now,
	}
	switch {
	case tokenRefused:
		ud.TerminationCause = []osp.TerminationCause{causeRejected}
		ud.StartTime, ud.ReleaseSource = now, "destination"
	case failed:
		ud.TerminationCause = []osp.TerminationCause{causeNoCircut}
		ud.StartTime, ud.ReleaseSource = now, "destination"
	default:
		start := now.Add(-d)
		ud.TerminationCause = []osp.TerminationCause{causeNormal}
		ud.StartTime, ud.ConnectTime, ud.AlertTime, ud.ReleaseSource = start, start, start, release
	}
	return ud
}
