package consensus

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// proposal is one caller's unit of work in a batcher: one local command, or a
// follower's forwarded batch (kept together so that it costs the leader one
// queue operation and lands in one log entry).
type proposal struct {
	cmds  [][]byte
	size  int
	state atomic.Int32 // propPending → propTaken | propCancelled
	done  chan proposalResult
}

const (
	propPending int32 = iota
	propTaken
	propCancelled
)

type proposalResult struct {
	results [][]byte
	err     error
}

func newProposal(cmds [][]byte) *proposal {
	p := &proposal{cmds: cmds, done: make(chan proposalResult, 1)}
	for _, c := range cmds {
		p.size += len(c)
	}
	return p
}

// cancel withdraws a proposal that no batcher has taken yet; it reports
// whether it did (then the command certainly never reached raft).
func (p *proposal) cancel() bool { return p.state.CompareAndSwap(propPending, propCancelled) }

func (p *proposal) finish(r proposalResult) { p.done <- r }

// batcher implements group commit: it gathers concurrently queued proposals
// into one unit of submission (a Raft log entry on the leader, one forwarding
// RPC on a follower).
//
// Adaptive flushing (a "leader pipeline", not a fixed timer):
//   - nothing in flight: flush at once, so a lone proposer never pays a window;
//   - some in flight but fewer than MaxInFlight: gather until the batch is
//     full, MaxWait passes, or the pipeline drains;
//   - MaxInFlight in flight: gather until the batch is full or a slot frees.
//
// Under load the batch size therefore tracks the commit latency: everything
// that arrives while raft fsyncs and replicates the previous entries rides in
// the next one.
type batcher struct {
	in       chan *proposal
	maxCmds  int
	maxBytes int
	maxWait  time.Duration
	disabled bool
	// maxInflight bounds submissions whose outcome is pending: the pipeline
	// depth. Batches grow while it is full.
	maxInflight int64
	// submit hands a batch on; it must call b.complete exactly once when the
	// submission's outcome is known (it may do so from another goroutine).
	submit func(batch []*proposal, n int)

	inflight atomic.Int64
	freed    chan struct{} // signalled (non-blocking) by complete
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func newBatcher(cfg BatchConfig, submit func([]*proposal, int)) *batcher {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 2
	}
	if cfg.Disabled {
		// One entry per command, and no pipeline limit beyond raft's own.
		cfg.MaxInFlight = 1 << 30
	}
	b := &batcher{
		in:          make(chan *proposal, 8192),
		maxCmds:     cfg.MaxCommands,
		maxBytes:    cfg.MaxBytes,
		maxWait:     cfg.MaxWait,
		disabled:    cfg.Disabled,
		maxInflight: int64(cfg.MaxInFlight),
		submit:      submit,
		freed:       make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	b.wg.Add(1)
	go b.loop()
	return b
}

// enqueue queues p; it reports false when the batcher has stopped.
func (b *batcher) enqueue(p *proposal) bool {
	select {
	case <-b.done:
		return false
	default:
	}
	select {
	case b.in <- p:
		return true
	case <-b.done:
		return false
	}
}

func (b *batcher) complete() {
	b.inflight.Add(-1)
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

func (b *batcher) loop() {
	defer b.wg.Done()
	var carry *proposal // did not fit in the previous batch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first *proposal
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-b.in:
			case <-b.done:
				return
			}
		}
		if !first.state.CompareAndSwap(propPending, propTaken) {
			continue
		}
		batch := []*proposal{first}
		n, size := len(first.cmds), first.size
		full := func() bool { return b.disabled || n >= b.maxCmds || size >= b.maxBytes }
		// add takes p into the batch, or carries it over if it does not fit.
		add := func(p *proposal) {
			if p.state.Load() != propPending {
				return
			}
			if n+len(p.cmds) > b.maxCmds || size+p.size > b.maxBytes {
				carry = p
				return
			}
			if !p.state.CompareAndSwap(propPending, propTaken) {
				return
			}
			batch = append(batch, p)
			n += len(p.cmds)
			size += p.size
		}
		// Take whatever is already queued.
	drain:
		for !full() && carry == nil {
			select {
			case p := <-b.in:
				add(p)
			default:
				break drain
			}
		}
		// Wait for more only while the pipeline is busy: with a free slot for
		// up to MaxWait, with a full pipeline until a slot frees.
		if !full() && carry == nil && b.inflight.Load() > 0 {
			var window <-chan time.Time
			if b.inflight.Load() < b.maxInflight && b.maxWait > 0 {
				timer.Reset(b.maxWait)
				window = timer.C
			}
		wait:
			for !full() && carry == nil {
				in := b.inflight.Load()
				if in == 0 || (window == nil && in < b.maxInflight) {
					break
				}
				select {
				case p := <-b.in:
					add(p)
				case <-b.freed:
				case <-window:
					break wait
				case <-b.done:
					break wait
				}
			}
			if window != nil && !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		// Never exceed the pipeline depth, even with a full batch.
		for b.inflight.Load() >= b.maxInflight {
			select {
			case <-b.freed:
			case <-b.done:
				b.inflight.Add(1)
				b.submit(batch, n)
				return
			}
		}
		b.inflight.Add(1)
		b.submit(batch, n)
	}
}

// stop ends the loop and fails every queued (never submitted) proposal with
// err. Submissions in flight complete on their own.
func (b *batcher) stop(err error) {
	b.stopOnce.Do(func() {
		close(b.done)
		b.wg.Wait()
		for {
			select {
			case p := <-b.in:
				if p.state.CompareAndSwap(propPending, propTaken) {
					p.finish(proposalResult{err: err})
				}
			default:
				return
			}
		}
	})
}

// histogram counts batch sizes in power-of-two buckets (1, 2, 4, … 1024, +Inf).
type histogram struct {
	counts [12]atomic.Uint64
	sum    atomic.Uint64
}

func (h *histogram) observe(n int) {
	i := 0
	if n > 1 {
		i = bits.Len(uint(n - 1)) // smallest i with n <= 1<<i
	}
	i = min(i, len(h.counts)-1)
	h.counts[i].Add(1)
	h.sum.Add(uint64(n))
}

func (h *histogram) buckets() []Bucket {
	out := make([]Bucket, len(h.counts))
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		ub := float64(uint64(1) << i)
		if i == len(h.counts)-1 {
			ub = math.Inf(1)
		}
		out[i] = Bucket{UpperBound: ub, Count: cum}
	}
	return out
}
