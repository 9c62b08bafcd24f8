package testnet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// LoadOptions configures RunLoad. URLs and one of Duration or Calls are
// required; every other zero field takes the default its comment names.
type LoadOptions struct {
	// URLs are the OSP service points (http or https), e.g.
	// "http://127.0.0.1:5060/osp". Each call's messages go to one of them,
	// chosen by smooth weighted round robin.
	URLs []string
	// Weights, if set, has one positive weight per URL (default all 1).
	Weights []int
	// DestURLs are the service points of the network that terminates the
	// calls, where the terminating proxy reports its (destination) usage:
	// across a chain of networks the tokens come from the last one, and
	// only it knows their TransactionIds. Empty: URLs (one network). A
	// call whose token names another transaction than its authorisation
	// (it came back through a peer) while DestURLs is empty is not
	// reported to URLs, where it would be stored unmatched: it counts as
	// a call error and RunLoad fails with ErrDestinationElsewhere (unless
	// PerDestinationTxID).
	DestURLs []string
	// PerDestinationTxID says the server gives each destination's token a
	// TransactionId of its own, so a token naming another transaction
	// than its authorisation does not mean another network issued it.
	// ospnode puts its own transaction's id in every token it issues.
	PerDestinationTxID bool
	// Failover lets a request move on to the other URLs after a transport
	// error or a 503, as the OSP Toolkit does. Off by default, so that every
	// answer a server gives is counted as it was given.
	Failover bool
	// TLSConfig is used for https URLs (nil: Go defaults).
	TLSConfig *tls.Config
	// Transport overrides the HTTP transport (TLSConfig is then ignored).
	Transport http.RoundTripper
	// Timeout bounds one request (default 5 s).
	Timeout time.Duration
	// NewConnections opens a TCP (TLS) connection per request, as the OSP
	// Toolkit does in practice, instead of reusing keep-alive connections.
	NewConnections bool

	// Rate > 0 runs open loop: calls start at Rate per second on a fixed
	// schedule, and latency is measured from each call's intended start, so a
	// stalled server shows as latency rather than as fewer samples (no
	// coordinated omission). Concurrency then caps calls in flight (default
	// 4096). Rate == 0 runs closed loop with Concurrency callers (default 64),
	// each starting its next call when the previous one ends.
	Rate        float64
	Concurrency int
	// Duration and Calls bound the run; at least one must be set. A run with
	// only Calls still stops after MaxDuration.
	Duration time.Duration
	Calls    int
	// MaxDuration is the hard bound of a run given by Calls only (default 10 min).
	MaxDuration time.Duration

	// MaxDestinations is the AuthorizationRequest's MaximumDestinations
	// (default 5, Kamailio's).
	MaxDestinations int
	// FailRatio is the share of calls whose attempt fails (0..1): reported
	// as a source usage with zero duration and a failure cause, no
	// destination usage.
	FailRatio float64
	// Durations is the call-duration distribution (see DurationDist).
	Durations DurationDist
	// Carriers gives simulated terminating carriers their call outcomes,
	// by the address routing offers first (an IP, "[ip]" or "[ip]:port"):
	// a call whose first destination has a profile is answered or failed
	// as the profile draws (FailRatio does not apply to it) and reported
	// as Kamailio does (CarrierProfile). Other calls follow FailRatio.
	Carriers map[string]CarrierProfile
	// CallingCountries and CalledCountries are the country codes numbers are
	// drawn from (default all of CountryCodes()).
	CallingCountries, CalledCountries []string
	// Seed makes the call model reproducible (numbers, failures, durations).
	Seed uint64
	// RunID makes Call-IDs and message ids unique to this run (0: random).
	RunID uint64
	// Source is the originating proxy's identity; Destination the
	// terminating proxy's (empty Address: the routed destination's).
	Source, Destination Party

	// TokenRoots are the CA certificates the terminating side trusts.
	// Tokens are verified (osp.VerifyToken) when TokenRoots is set or
	// AcceptUnsigned is true; otherwise only parsed, for their
	// TransactionId. A token that fails makes the call a refused attempt.
	TokenRoots     *x509.CertPool
	AcceptUnsigned bool

	// Progress, if set, receives a line every ProgressInterval (default 1 s).
	Progress         io.Writer
	ProgressInterval time.Duration
	// Verify, if set, is called after the run with every usage the servers
	// confirmed; an error fails the run (RunLoad returns it, wrapped in
	// ErrVerify). See AdminLedger for the admin API check.
	Verify func(ctx context.Context, confirmed []ConfirmedUsage) error
	// Now is the clock stamped into messages and used to check token
	// validity (default time.Now). Latency always uses the monotonic clock.
	Now func() time.Time
	// Logger receives debug lines about failed calls (nil: discard).
	Logger *slog.Logger
}

// ConfirmedUsage identifies one usage a server confirmed with a 2xx status:
// the idempotency key of a UsageIndication.
type ConfirmedUsage struct {
	TransactionID uint64 `json:"transactionId,string"`
	Role          string `json:"role"`
	ComponentID   string `json:"componentId"`
}

// Sentinel errors of RunLoad; test with errors.Is.
var (
	// ErrLoadOptions: the options are invalid; nothing was sent.
	ErrLoadOptions = errors.New("testnet: invalid load options")
	// ErrVerify: the run completed but LoadOptions.Verify reported a
	// problem (such as a confirmed usage missing from the ledger).
	ErrVerify = errors.New("testnet: verification failed")
	// ErrDestinationElsewhere: tokens named another network's
	// transactions but no LoadOptions.DestURLs said where that network
	// is, so their destination usage was not reported.
	ErrDestinationElsewhere = errors.New("testnet: calls terminated in another network")
)

// Message types of LoadResult.Messages, in order.
const (
	MsgAuthorization    = "AuthorizationRequest"
	MsgUsageSource      = "UsageIndication-source"
	MsgUsageDestination = "UsageIndication-destination"
)

func (o *LoadOptions) withDefaults() (LoadOptions, error) {
	c := *o
	bad := func(format string, a ...any) (LoadOptions, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrLoadOptions}, a...)...)
	}
	if len(c.URLs) == 0 {
		return bad("no service point URL")
	}
	if c.Destination.Bind == BindSignal && c.Transport != nil {
		return bad("a signal-address bind needs the default transport")
	}
	if c.Source.Bind == BindSignal {
		return bad("bind %q is for the terminating side only", BindSignal)
	}
	if len(c.Weights) != 0 && len(c.Weights) != len(c.URLs) {
		return bad("%d weights for %d URLs", len(c.Weights), len(c.URLs))
	}
	for _, w := range c.Weights {
		if w <= 0 || w > 1000 {
			return bad("weight %d: want 1..1000", w)
		}
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Concurrency < 0 || c.Calls < 0 || c.Duration < 0 {
		return bad("negative rate, concurrency, calls or duration")
	}
	if c.Duration == 0 && c.Calls == 0 {
		return bad("give a duration or a call count: a run is always bounded")
	}
	if c.FailRatio < 0 || c.FailRatio > 1 || math.IsNaN(c.FailRatio) {
		return bad("fail ratio %v: want 0..1", c.FailRatio)
	}
	if c.MaxDestinations < 0 {
		return bad("negative max destinations")
	}
	if err := c.Durations.validate(); err != nil {
		return bad("%v", err)
	}
	if len(c.Carriers) > 0 {
		byIP := make(map[string]CarrierProfile, len(c.Carriers))
		for addr, p := range c.Carriers {
			if err := p.validate(); err != nil {
				return bad("carrier %s: %v", addr, err)
			}
			byIP[carrierKey(addr)] = p
		}
		c.Carriers = byIP
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
		if c.Rate > 0 {
			c.Concurrency = 4096
		}
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = 10 * time.Minute
	}
	if c.Duration == 0 || c.Duration > c.MaxDuration {
		c.Duration = c.MaxDuration
	}
	if c.MaxDestinations == 0 {
		c.MaxDestinations = 5
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RunID == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.RunID = binary.LittleEndian.Uint64(b[:])
	}
	return c, nil
}

// loadRun is the state of one RunLoad.
type loadRun struct {
	opts    LoadOptions
	model   CallModel
	pick    *picker
	clients [2][]*osp.Client // [0] source proxy (one per URL), [1] terminating proxy (one per destination URL)
	// destPick picks among the destination URLs (DestURLs, or URLs).
	destPick *picker
	// bySignal holds the terminating proxy's clients per bind IP when it
	// binds to each destination's signal address (BindSignal).
	bySignal   map[string][]*osp.Client
	signalMu   sync.Mutex
	closeIdles []func()

	elsewhere    atomic.Uint64 // calls whose token came from another network, not reported (no DestURLs)
	sawElsewhere atomic.Bool

	msgs [3]*msgStats

	started, completed, failedAttempts, callErrors atomic.Uint64
	inFlight                                       atomic.Int64
	tokenChecked, tokenFailed                      atomic.Uint64
	scheduleLag                                    atomic.Int64 // max lag of an open-loop start, ns

	mu           sync.Mutex
	tokenByCheck map[string]uint64
	confirmed    []ConfirmedUsage
	byDest       map[string]*destCount // by carrierKey of the first destination
}

// RunLoad drives OSP service points with simulated calls until the duration
// or the call count is reached, waits for the calls in flight, then runs
// opts.Verify. It returns the result even when it also returns an error:
// ErrLoadOptions (nothing sent), ErrVerify (verification failed), or ctx's
// error when ctx ended the run early. Failed calls are counted, never
// returned as errors. RunLoad may be called concurrently with itself.
func RunLoad(ctx context.Context, opts LoadOptions) (*LoadResult, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	calling, err := NewNumberPlan(o.CallingCountries...)
	if err != nil {
		return nil, fmt.Errorf("%w: calling countries: %w", ErrLoadOptions, err)
	}
	called, err := NewNumberPlan(o.CalledCountries...)
	if err != nil {
		return nil, fmt.Errorf("%w: called countries: %w", ErrLoadOptions, err)
	}
	r := &loadRun{
		opts: o,
		model: CallModel{Calling: calling, Called: called, MaxDestinations: o.MaxDestinations,
			FailRatio: o.FailRatio, Durations: o.Durations, Source: o.Source, Destination: o.Destination,
			Seed: o.Seed, RunID: o.RunID},
		pick:         newPicker(o.Weights, len(o.URLs)),
		tokenByCheck: map[string]uint64{},
	}
	for i, name := range []string{MsgAuthorization, MsgUsageSource, MsgUsageDestination} {
		r.msgs[i] = newMsgStats(name)
	}
	// The source and the terminating proxy are different machines: each
	// role has its own transport (dialling from its Party.Bind address) and
	// its own client per service point.
	defer func() {
		for _, f := range r.closeIdles {
			f()
		}
	}()
	destURLs := o.URLs
	if len(o.DestURLs) > 0 {
		destURLs = o.DestURLs
	}
	r.destPick = r.pick
	if len(o.DestURLs) > 0 {
		r.destPick = newPicker(nil, len(destURLs))
	}
	if r.clients[0], err = r.roleClients(o.Source.Bind, o.URLs); err != nil {
		return nil, err
	}
	if o.Destination.Bind == BindSignal {
		r.bySignal = map[string][]*osp.Client{}
	} else if r.clients[1], err = r.roleClients(o.Destination.Bind, destURLs); err != nil {
		return nil, err
	}

	cpu0 := processCPU()
	start := time.Now()
	stopProgress := r.startProgress(start)
	var runErr error
	if o.Rate > 0 {
		runErr = r.openLoop(ctx, start)
	} else {
		runErr = r.closedLoop(ctx, start)
	}
	elapsed := time.Since(start)
	stopProgress()
	cpu1 := processCPU()

	res := r.result(elapsed, cpu1.sub(cpu0))
	if runErr != nil {
		return res, runErr
	}
	var elsewhere error
	if res.TerminatedElsewhere > 0 {
		elsewhere = fmt.Errorf("%w: %d call(s) got tokens that name another network's transaction (the call crossed a peer network); "+
			"their destination usage belongs to the network that issued the token and was not sent: give that network's OSP service points with --dest-url (LoadOptions.DestURLs)",
			ErrDestinationElsewhere, res.TerminatedElsewhere)
	}
	if o.Verify != nil {
		if err := o.Verify(ctx, res.Confirmed); err != nil {
			res.VerifyError = err.Error()
			return res, errors.Join(elsewhere, fmt.Errorf("%w: %w", ErrVerify, err))
		}
		res.Verified = true
	}
	return res, elsewhere
}

// roleClients returns one OSP client per URL for a proxy dialling from
// bind, each failing over to the other URLs when Failover is set.
func (r *loadRun) roleClients(bind string, urls []string) ([]*osp.Client, error) {
	o := &r.opts
	transport, closeIdle, err := r.transport(bind)
	if err != nil {
		return nil, err
	}
	r.closeIdles = append(r.closeIdles, closeIdle)
	var out []*osp.Client
	for i := range urls {
		sps := []string{urls[i]}
		if o.Failover {
			for j := 1; j < len(urls); j++ {
				sps = append(sps, urls[(i+j)%len(urls)])
			}
		}
		c, err := osp.NewClient(osp.ClientConfig{ServicePoints: sps, Timeout: o.Timeout, Transport: transport, Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLoadOptions, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// destClient returns the terminating proxy's client for a call routed to
// dest: the next destination URL's, dialling from dest's signal address
// when the proxy binds to it (BindSignal).
func (r *loadRun) destClient(dest *osp.Destination) (*osp.Client, error) {
	i := r.destPick.next()
	if r.bySignal == nil {
		return r.clients[1][i], nil
	}
	ip, err := signalIP(dest.SignalAddress)
	if err != nil {
		return nil, err
	}
	r.signalMu.Lock()
	defer r.signalMu.Unlock()
	cs := r.bySignal[ip]
	if cs == nil {
		urls := r.opts.URLs
		if len(r.opts.DestURLs) > 0 {
			urls = r.opts.DestURLs
		}
		if cs, err = r.roleClients(ip, urls); err != nil {
			return nil, err
		}
		r.bySignal[ip] = cs
	}
	return cs[i], nil
}

// signalIP is the IP of a destination's signal address ("[127.0.0.3]:5060",
// "127.0.0.3:5060" or "127.0.0.3").
func signalIP(addr string) (string, error) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("signal address %q is not an IP address to bind to", addr)
	}
	return ip.String(), nil
}

// transport returns the HTTP transport of a proxy dialling from bind ("":
// the system's choice), sized for the concurrency so that keep-alive
// connections are reused rather than churned.
func (r *loadRun) transport(bind string) (http.RoundTripper, func(), error) {
	o := &r.opts
	if o.Transport != nil {
		if bind != "" {
			return nil, nil, fmt.Errorf("%w: a bind address needs the default transport", ErrLoadOptions)
		}
		return o.Transport, func() {}, nil
	}
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	if bind != "" {
		ip, err := netip.ParseAddr(bind)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: bind address %q: %w", ErrLoadOptions, bind, err)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice()}
	}
	t := &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     o.TLSConfig,
		MaxIdleConnsPerHost: min(o.Concurrency, 1024),
		// A caller has one request in flight: never more connections than
		// callers (a node caps connections per source address).
		MaxConnsPerHost:     min(o.Concurrency, 1024),
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: o.Timeout,
		DisableKeepAlives:   o.NewConnections,
	}
	return t, t.CloseIdleConnections, nil
}

// openLoop starts call i at start + i/Rate, never later to catch up with
// a stall: a call that starts late has its lateness in its latency.
func (r *loadRun) openLoop(ctx context.Context, start time.Time) error {
	o := &r.opts
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := uint64(0); o.Calls == 0 || i < uint64(o.Calls); i++ {
		offset := time.Duration(float64(i) * float64(time.Second) / o.Rate)
		if offset >= o.Duration {
			break
		}
		intended := start.Add(offset)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case sem <- struct{}{}:
		}
		if lag := int64(time.Since(intended)); lag > r.scheduleLag.Load() {
			r.scheduleLag.Store(lag) // one dispatcher goroutine: no race on the max
		}
		wg.Add(1)
		go func(seq uint64) {
			defer func() { <-sem; wg.Done() }()
			r.call(ctx, seq, intended)
		}(i)
	}
	return ctx.Err()
}

// closedLoop runs Concurrency callers, each starting its next call as soon
// as the previous one ends.
func (r *loadRun) closedLoop(ctx context.Context, start time.Time) error {
	o := &r.opts
	deadline := start.Add(o.Duration)
	var next atomic.Uint64
	var wg sync.WaitGroup
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				seq := next.Add(1) - 1
				now := time.Now()
				if (o.Calls > 0 && seq >= uint64(o.Calls)) || !now.Before(deadline) {
					return
				}
				r.call(ctx, seq, now)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// startProgress prints a line every ProgressInterval until the returned
// function is called.
func (r *loadRun) startProgress(start time.Time) (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		last, lastAt := uint64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				c := r.completed.Load()
				rate := float64(c-last) / now.Sub(lastAt).Seconds()
				last, lastAt = c, now
				fmt.Fprintf(r.opts.Progress, "elapsed %5.1fs  calls/s %8.1f  completed %d  in-flight %d  errors %d\n",
					now.Sub(start).Seconds(), rate, c, r.inFlight.Load(), r.errorCount())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *loadRun) errorCount() uint64 {
	var n uint64
	for _, m := range r.msgs {
		n += m.errors()
	}
	return n
}
