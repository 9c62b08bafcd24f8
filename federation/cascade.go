package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// Outbox reads the replicated outbox; *ledger.Store implements it.
type Outbox interface {
	PendingOutbox(peer string, limit int) ([]ledger.OutboxItem, error)
}

// Proposer proposes a ledger command through consensus and returns its
// applied result; node implements it (on the leader, the result is
// returned once the command is applied locally).
type Proposer interface {
	Propose(ctx context.Context, cmd ledger.Command) (*ledger.Result, error)
}

// Leadership says whether this node is the Raft leader; only the leader
// drains the outbox.
type Leadership interface {
	IsLeader() bool
}

// PeerSource gives the live peers; *Registry implements it.
type PeerSource interface {
	Peer(id string) (*Peer, bool)
	IDs() []string
}

// CascaderConfig configures a Cascader. Outbox, Proposer, Leader and Peers
// are required; zero durations and counts take the defaults given.
type CascaderConfig struct {
	Outbox   Outbox
	Proposer Proposer
	Leader   Leadership
	Peers    PeerSource

	// Concurrency bounds messages in flight (default 4).
	Concurrency int
	// BatchSize is how many pending items are read per peer per pass
	// (default 256).
	BatchSize int
	// MaxComponents is how many UsageIndications one message carries
	// (default 16; the toolkit's servers accept several per message).
	MaxComponents int
	// Interval is how often the outbox is read when nothing wakes the
	// cascader (default 1s).
	Interval time.Duration
	// Budget bounds one message's delivery across the peer's service
	// points (default 5s).
	Budget time.Duration
	// MinBackoff and MaxBackoff bound the per-item retry delay, which
	// doubles after each failure (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock for backoff (nil: time.Now).
	Now func() time.Time
	// Logger (nil: discard).
	Logger *slog.Logger
}

// CascadeMetrics are the cascader's counters since it was built.
type CascadeMetrics struct {
	// Sent counts UsageIndications sent (one per item per attempt).
	Sent uint64 `json:"sent"`
	// Acked counts items whose AckOutbox was applied.
	Acked uint64 `json:"acked"`
	// Failed counts failed deliveries of an item (transport failure,
	// refusal, missing confirmation).
	Failed uint64 `json:"failed"`
	// AckErrors counts AckOutbox proposals that failed (retried).
	AckErrors uint64 `json:"ack_errors"`
	// Pending is the number of items seen pending in the last pass.
	Pending uint64 `json:"pending"`
	// Passes counts drain passes run as leader.
	Passes uint64 `json:"passes"`
	// Skipped counts wake-ups on a follower (nothing drained).
	Skipped uint64 `json:"skipped"`
}

// ItemStatus is a pending item that failed at least once, for operators.
type ItemStatus struct {
	ID          uint64    `json:"id"`
	Peer        string    `json:"peer"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	NextAttempt time.Time `json:"next_attempt"`
}

// Cascader drains the replicated outbox: it sends each pending item to its
// peer as a UsageIndication with the upstream TransactionId, and proposes
// AckOutbox for the items the peer confirmed (2xx). Delivery is
// at-least-once; the peer's usage idempotency (UsageComponentID) makes a
// redelivery harmless. Failed items are retried with exponential backoff
// until confirmed. Only the Raft leader drains; a new leader starts from
// the replicated outbox, so nothing is lost on leader change.
//
// Start and Stop it once each; Kick, Metrics and Failing are safe from any
// goroutine.
type Cascader struct {
	cfg CascaderConfig
	now func() time.Time
	log *slog.Logger

	kick chan struct{}

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	done                chan struct{}

	sent, acked, failed, ackErrors, pending, passes, skipped atomic.Uint64

	mu sync.Mutex // guards the fields below (leader-local memory)
	// retry holds the backoff state of items that failed.
	retry map[uint64]*retryState
	// confirmed holds items the peer confirmed whose AckOutbox is not yet
	// applied: they are not sent again, only acked.
	confirmed map[uint64]struct{}
	// ackedIDs holds items acked by this leader term, so that an item still
	// listed by a lagging read is not sent again.
	ackedIDs map[uint64]struct{}
}

type retryState struct {
	peer     string
	attempts int
	next     time.Time
	lastErr  string
}

// NewCascader validates cfg and returns a stopped Cascader.
func NewCascader(cfg CascaderConfig) (*Cascader, error) {
	if cfg.Outbox == nil || cfg.Proposer == nil || cfg.Leader == nil || cfg.Peers == nil {
		return nil, errors.New("federation: cascader needs Outbox, Proposer, Leader and Peers")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.MaxComponents <= 0 {
		cfg.MaxComponents = 16
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Minute, cfg.MinBackoff)
	}
	c := &Cascader{
		cfg: cfg, now: cfg.Now, log: cfg.Logger,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.reset()
	return c, nil
}

// Start runs the drain loop in a goroutine until Stop or ctx ends.
func (c *Cascader) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		ctx, c.cancel = context.WithCancel(ctx)
		go func() {
			defer close(c.done)
			c.run(ctx)
		}()
	})
}

// Stop ends the drain loop and waits for in-flight deliveries to return.
// Items in flight are simply delivered again by the next leader.
func (c *Cascader) Stop() {
	c.stopOnce.Do(func() {
		c.startOnce.Do(func() { close(c.done) }) // never started
		if c.cancel != nil {
			c.cancel()
		}
		<-c.done
	})
}

// Kick wakes the drain loop now (node calls it after a RecordUsage whose
// result has an OutboxID, and on becoming leader). It never blocks.
func (c *Cascader) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Metrics returns the counters.
func (c *Cascader) Metrics() CascadeMetrics {
	return CascadeMetrics{
		Sent: c.sent.Load(), Acked: c.acked.Load(), Failed: c.failed.Load(),
		AckErrors: c.ackErrors.Load(), Pending: c.pending.Load(), Passes: c.passes.Load(),
		Skipped: c.skipped.Load(),
	}
}

// Failing returns the items that failed at least once and are still
// pending, by id (this leader's memory; empty on followers).
func (c *Cascader) Failing() []ItemStatus {
	c.mu.Lock()
	out := make([]ItemStatus, 0, len(c.retry))
	for id, r := range c.retry {
		out = append(out, ItemStatus{ID: id, Peer: r.peer, Attempts: r.attempts, LastError: r.lastErr, NextAttempt: r.next})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (c *Cascader) reset() {
	c.mu.Lock()
	c.retry = map[uint64]*retryState{}
	c.confirmed = map[uint64]struct{}{}
	c.ackedIDs = map[uint64]struct{}{}
	c.mu.Unlock()
}

func (c *Cascader) run(ctx context.Context) {
	wasLeader := false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-timer.C:
		}
		wait := c.cfg.Interval
		switch leader := c.cfg.Leader.IsLeader(); {
		case !leader:
			c.skipped.Add(1)
			if wasLeader {
				// Forget this term's memory: the next term starts from
				// the replicated outbox.
				c.reset()
			}
			wasLeader = false
		default:
			wasLeader = true
			more, err := c.DrainOnce(ctx)
			if err != nil && ctx.Err() == nil {
				c.log.Warn("federation: outbox drain", "err", err)
			}
			if more {
				wait = 0
			} else if due := c.nextDue(); !due.IsZero() {
				wait = min(wait, max(due.Sub(c.now()), 0))
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// nextDue returns the earliest backoff deadline, or zero.
func (c *Cascader) nextDue() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	for _, r := range c.retry {
		if t.IsZero() || r.next.Before(t) {
			t = r.next
		}
	}
	return t
}

// DrainOnce runs one pass: read each peer's pending items, send those due,
// and propose one AckOutbox for every item confirmed. It reports whether a
// peer had a full batch and something was sent (more may be waiting). The run loop calls it
// on the leader; tests and the admin API may call it directly (it does not
// check leadership). Errors are joined per peer; a failed item is not an
// error (it is retried with backoff).
func (c *Cascader) DrainOnce(ctx context.Context) (more bool, err error) {
	c.passes.Add(1)
	var errs []error
	type job struct {
		peer  *Peer
		items []ledger.OutboxItem
	}
	var jobs []job
	var pendingTotal uint64
	now := c.now()
	listed := map[uint64]struct{}{}
	complete := true
	for _, id := range c.cfg.Peers.IDs() {
		items, err := c.cfg.Outbox.PendingOutbox(id, c.cfg.BatchSize)
		if err != nil {
			errs = append(errs, fmt.Errorf("federation: pending outbox of %q: %w", id, err))
			complete = false
			continue
		}
		pendingTotal += uint64(len(items))
		if len(items) >= c.cfg.BatchSize {
			more = true
			complete = false
		}
		p, ok := c.cfg.Peers.Peer(id)
		if !ok {
			continue
		}
		var due []ledger.OutboxItem
		c.mu.Lock()
		for _, it := range items {
			listed[it.ID] = struct{}{}
			if _, ok := c.confirmed[it.ID]; ok {
				continue
			}
			if _, ok := c.ackedIDs[it.ID]; ok {
				continue
			}
			if r := c.retry[it.ID]; r != nil && now.Before(r.next) {
				continue
			}
			due = append(due, it)
		}
		c.mu.Unlock()
		for len(due) > 0 {
			n := min(len(due), c.cfg.MaxComponents)
			jobs = append(jobs, job{peer: p, items: due[:n]})
			due = due[n:]
		}
	}
	c.pending.Store(pendingTotal)
	// A full batch means more may wait behind it, but only worth an
	// immediate new pass if this one had something to send (a batch full
	// of items in backoff would otherwise spin).
	more = more && len(jobs) > 0

	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return more, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.deliver(ctx, j.peer, j.items)
		}()
	}
	wg.Wait()

	if err := c.ackConfirmed(ctx); err != nil {
		errs = append(errs, err)
	}
	if complete {
		// Forget what the replicated outbox no longer holds.
		c.mu.Lock()
		for id := range c.ackedIDs {
			if _, ok := listed[id]; !ok {
				delete(c.ackedIDs, id)
			}
		}
		for id := range c.retry {
			if _, ok := listed[id]; !ok {
				delete(c.retry, id)
			}
		}
		c.mu.Unlock()
	}
	return more, errors.Join(errs...)
}

// deliver sends items (all for p) in one message and records each item's
// outcome.
func (c *Cascader) deliver(ctx context.Context, p *Peer, items []ledger.OutboxItem) {
	id := p.cfg.Identity
	msg := &osp.Message{MessageID: strconv.FormatUint(items[0].ID, 10)}
	for _, it := range items {
		msg.Components = append(msg.Components, osp.Component{
			ID: UsageComponentID(it), UsageIndication: UsageIndicationFor(it, id),
		})
	}
	c.sent.Add(uint64(len(items)))
	if _, err := osp.Encode(msg); err != nil {
		for _, it := range items {
			c.fail(p.ID(), it.ID, fmt.Errorf("encode: %w", err))
		}
		return
	}
	x := p.send(ctx, c.now().Add(c.cfg.Budget), msg, func(m *osp.Message) error {
		for i := range m.Components {
			if m.Components[i].UsageConfirmation != nil {
				return nil
			}
		}
		return errors.New("answer holds no UsageConfirmation")
	})
	if x.resp == nil {
		err := x.lastErr
		if err == nil {
			err = errors.New("no usable service point")
		}
		for _, it := range items {
			c.fail(p.ID(), it.ID, err)
		}
		return
	}
	confs := confirmations(x.resp, msg)
	for _, it := range items {
		st, ok := confs[UsageComponentID(it)]
		switch {
		case !ok:
			c.fail(p.ID(), it.ID, fmt.Errorf("%s: no UsageConfirmation for component %s", x.url, UsageComponentID(it)))
		case !st.OK():
			c.fail(p.ID(), it.ID, fmt.Errorf("%s: usage refused: %d %s", x.url, st.Code, st.Description))
		default:
			c.mu.Lock()
			c.confirmed[it.ID] = struct{}{}
			delete(c.retry, it.ID)
			c.mu.Unlock()
		}
	}
}

// confirmations maps each componentId of sent to its confirmation status.
// An answer whose components do not echo our ids but match in number is
// read by position (some servers renumber components).
func confirmations(resp, sent *osp.Message) map[string]osp.Status {
	out := map[string]osp.Status{}
	var byPos []osp.Status
	for i := range resp.Components {
		uc := resp.Components[i].UsageConfirmation
		if uc == nil {
			continue
		}
		out[resp.Components[i].ID] = uc.Status
		byPos = append(byPos, uc.Status)
	}
	matched := 0
	for i := range sent.Components {
		if _, ok := out[sent.Components[i].ID]; ok {
			matched++
		}
	}
	if matched == 0 && len(byPos) == len(sent.Components) {
		out = map[string]osp.Status{}
		for i := range sent.Components {
			out[sent.Components[i].ID] = byPos[i]
		}
	}
	return out
}

// fail records a failed delivery and schedules the item's retry.
func (c *Cascader) fail(peer string, id uint64, err error) {
	c.failed.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.retry[id]
	if r == nil {
		r = &retryState{peer: peer}
		c.retry[id] = r
	}
	r.attempts++
	r.lastErr = err.Error()
	d := c.cfg.MinBackoff
	for i := 1; i < r.attempts && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	r.next = c.now().Add(min(d, c.cfg.MaxBackoff))
	c.log.Debug("federation: usage cascade failed", "peer", peer, "item", id, "attempts", r.attempts, "err", err)
}

// ackConfirmed proposes one AckOutbox for every confirmed item. On failure
// the items stay confirmed and the ack is proposed again next pass (an
// AckOutbox of already-removed ids is ignored by the ledger).
func (c *Cascader) ackConfirmed(ctx context.Context) error {
	c.mu.Lock()
	ids := make([]uint64, 0, len(c.confirmed))
	for id := range c.confirmed {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	res, err := c.cfg.Proposer.Propose(ctx, ledger.AckOutbox{IDs: ids})
	if err == nil && res != nil {
		err = res.Err()
	}
	if err != nil {
		c.ackErrors.Add(1)
		return fmt.Errorf("federation: propose AckOutbox: %w", err)
	}
	c.acked.Add(uint64(len(ids)))
	c.mu.Lock()
	for _, id := range ids {
		delete(c.confirmed, id)
		c.ackedIDs[id] = struct{}{}
	}
	c.mu.Unlock()
	return nil
}
