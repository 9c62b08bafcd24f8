package testnet

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// msgStats counts one message type. Safe for concurrent use.
type msgStats struct {
	name      string
	sent, ok  atomic.Uint64
	failed    atomic.Uint64 // answered with a non-2xx status or not usably answered
	latency   Histogram
	mu        sync.Mutex
	status    map[int]uint64    // non-2xx OSP status codes
	transport map[string]uint64 // transport and protocol errors by class
}

func newMsgStats(name string) *msgStats {
	return &msgStats{name: name, status: map[int]uint64{}, transport: map[string]uint64{}}
}

func (m *msgStats) errors() uint64 { return m.failed.Load() }

func (m *msgStats) failStatus(code int) {
	m.failed.Add(1)
	m.mu.Lock()
	m.status[code]++
	m.mu.Unlock()
}

func (m *msgStats) failTransport(class string) {
	m.failed.Add(1)
	m.mu.Lock()
	m.transport[class]++
	m.mu.Unlock()
}

// picker chooses a service point by smooth weighted round robin (nginx's):
// with weights 5,1,1 it sends a a b a c a a, never bursts.
type picker struct {
	mu      sync.Mutex
	weights []int
	current []int
	total   int
}

func newPicker(weights []int, n int) *picker {
	p := &picker{weights: make([]int, n), current: make([]int, n)}
	for i := range p.weights {
		p.weights[i] = 1
		if len(weights) == n {
			p.weights[i] = weights[i]
		}
		p.total += p.weights[i]
	}
	return p
}

func (p *picker) next() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := 0
	for i, w := range p.weights {
		p.current[i] += w
		if p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= p.total
	return best
}

// call runs call number seq: authorisation, the terminating side's token
// check, then the source usage and (for a connected call) the destination
// usage. intended is when the call should have started: the authorisation
// latency is measured from it.
func (r *loadRun) call(ctx context.Context, seq uint64, intended time.Time) {
	r.started.Add(1)
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)

	c := r.model.NewCall(seq)
	client := r.clients[0][r.pick.next()]
	comp, ok := r.send(ctx, client, r.msgs[0], r.model.AuthorizationRequest(&c, r.opts.Now()), intended, osp.KindAuthorizationResponse)
	if !ok {
		r.callErrors.Add(1)
		return
	}
	ar := comp.AuthorizationResponse
	dest := &ar.Destinations[0] // send checked there is one

	claims, tokErr := r.checkToken(&c, dest)
	if p, ok := r.opts.Carriers[carrierKey(dest.SignalAddress)]; ok {
		r.profiledCall(ctx, client, &c, ar, dest, claims, tokErr, &p)
		return
	}
	failed := c.Fail || tokErr != nil
	ok = r.usage(ctx, client, r.msgs[1], r.model.SourceUsage(&c, ar.TransactionID, dest, failed, tokErr != nil, r.opts.Now()), ar.TransactionID, osp.RoleSource)
	if failed {
		r.endAttempt(ok, dest, false)
		return
	}
	if len(r.opts.DestURLs) == 0 && !r.opts.PerDestinationTxID &&
		(claims.TransactionID != ar.TransactionID || r.sawElsewhere.Load()) {
		// The token is another network's (the call crossed a peer): the
		// networks behind URLs do not know its transaction and would
		// store the usage unmatched. RunLoad fails the run. Two networks'
		// ids can coincide (both derive them from their log positions),
		// so once one call showed that the calls cross, no later call's
		// destination usage goes to URLs either.
		r.sawElsewhere.Store(true)
		r.elsewhere.Add(1)
		r.callErrors.Add(1)
		return
	}
	destClient, err := r.destClient(dest)
	if err != nil {
		r.msgs[2].sent.Add(1)
		r.msgs[2].failTransport("bind")
		r.opts.Logger.Debug("destination usage not sent", "call", c.Seq, "err", err)
		r.callErrors.Add(1)
		return
	}
	okDest := r.usage(ctx, destClient, r.msgs[2], r.model.DestinationUsage(&c, claims, dest, r.opts.Now()), claims.TransactionID, osp.RoleDestination)
	if ok && okDest {
		r.completed.Add(1)
	} else {
		r.callErrors.Add(1)
	}
	r.countDest(dest.SignalAddress, ok && okDest, false)
}

// checkToken validates dest's token as the terminating proxy would, with
// the numbers and Call-ID the source puts in its INVITE. Without trust
// settings it only parses the token for its TransactionId.
func (r *loadRun) checkToken(c *Call, dest *osp.Destination) (*osp.TokenClaims, error) {
	called := c.Called
	if dest.TranslatedCalled != "" {
		called = dest.TranslatedCalled
	}
	var claims *osp.TokenClaims
	var err error
	if r.opts.TokenRoots != nil || r.opts.AcceptUnsigned {
		r.tokenChecked.Add(1)
		claims, err = osp.VerifyToken(dest.Token, osp.TokenVerifyOptions{
			Roots: r.opts.TokenRoots, Now: r.opts.Now(), AcceptUnsigned: r.opts.AcceptUnsigned,
			Calling: c.Calling, Called: called, CallID: callIDOf(c, dest),
		})
	} else {
		var p *osp.ParsedToken
		if p, err = osp.ParseToken(dest.Token); err == nil {
			claims = &p.Claims
		}
	}
	if err != nil {
		check := "other"
		var te *osp.TokenError
		if errors.As(err, &te) {
			check = te.Check
		}
		r.tokenFailed.Add(1)
		r.mu.Lock()
		r.tokenByCheck[check]++
		r.mu.Unlock()
		r.opts.Logger.Debug("token refused", "call", c.Seq, "err", err)
		return nil, err
	}
	return claims, nil
}

// usage sends one UsageIndication and records it as confirmed on a 2xx.
func (r *loadRun) usage(ctx context.Context, client *osp.Client, st *msgStats, m *osp.Message, txid uint64, role string) bool {
	if _, ok := r.send(ctx, client, st, m, time.Now(), osp.KindUsageConfirmation); !ok {
		return false
	}
	r.mu.Lock()
	r.confirmed = append(r.confirmed, ConfirmedUsage{TransactionID: txid, Role: role, ComponentID: m.Components[0].ID})
	r.mu.Unlock()
	return true
}

// send sends m (one component) and returns the answering component when it
// is of kind want with a 2xx status; every other outcome is counted in st.
func (r *loadRun) send(ctx context.Context, client *osp.Client, st *msgStats, m *osp.Message, from time.Time, want osp.Kind) (*osp.Component, bool) {
	st.sent.Add(1)
	resp, err := client.Do(ctx, m)
	st.latency.Record(time.Since(from))
	if err != nil {
		st.failTransport(transportClass(err))
		r.opts.Logger.Debug("osp request failed", "type", st.name, "err", err)
		return nil, false
	}
	comp := answerTo(resp, m.Components[0].ID)
	if comp == nil || comp.Kind() != want {
		st.failTransport("unexpected answer")
		return nil, false
	}
	s, _ := comp.Status()
	if !s.OK() {
		st.failStatus(s.Code)
		return nil, false
	}
	if want == osp.KindAuthorizationResponse && len(comp.AuthorizationResponse.Destinations) == 0 {
		// A 2xx without a route is a protocol error: the toolkit has
		// nothing to call.
		st.failTransport("2xx without destination")
		return nil, false
	}
	st.ok.Add(1)
	return comp, true
}

// answerTo returns the component of resp answering componentId id (or the
// only component, for servers that do not echo ids).
func answerTo(resp *osp.Message, id string) *osp.Component {
	for i := range resp.Components {
		if resp.Components[i].ID == id {
			return &resp.Components[i]
		}
	}
	if len(resp.Components) == 1 {
		return &resp.Components[0]
	}
	return nil
}

// transportClass names the kind of a failed request for the error table.
func transportClass(err error) string {
	var oe *osp.Error
	var ne net.Error
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ce):
		return "tls certificate"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &oe):
		return "bad response"
	case strings.Contains(err.Error(), "http status "):
		s := err.Error()
		return "http " + strings.TrimSpace(s[strings.LastIndex(s, "http status ")+len("http status "):])
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}
