package node

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement/fraud"
)

// fraudControl runs fraud detection (settlement/fraud) on this node. The
// detector is fed from the FSM: every authorisation the ledger admitted
// and every source final it recorded, in log order, whichever node
// answered the request, so each replica sees the whole cluster's traffic
// and (the events carrying their proposers' times) reaches the same
// findings with the same IDs. A block finding becomes a ledger.FraudBlock
// proposed by every node that finds it; the finding's ID makes the
// duplicates one block. Enforcement is admission's (admission.go), from
// the ledger's blocks.
//
// What the FSM goroutine does here is a decode and a few map updates per
// command; proposing happens on fraudControl's own goroutine (a proposal
// from the FSM goroutine would wait on itself). Safe for concurrent use.
type fraudControl struct {
	n   *Node
	log *slog.Logger
	det *fraud.Detector

	off atomic.Bool // fraud control disabled: the FSM skips decoding

	mu     sync.Mutex
	events []FraudEvent // the last maxFraudEvents findings, oldest first

	findings [4][3]atomic.Uint64 // by fraud.Rules × fraud.Actions index
	refused  atomic.Uint64       // authorisations refused by a block (this node)
	dropped  atomic.Uint64       // block findings not proposed: queue full

	blocks chan fraud.Finding
	reload chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

// staleFinding is the age past which a block finding is reported but
// not proposed (a replica replaying old entries).
const staleFinding = 10 * time.Minute

// maxFraudEvents bounds the findings a node keeps for GET /v1/fraud/events.
const maxFraudEvents = 1000

// FraudEvent is one finding as GET /v1/fraud/events reports it: the
// finding, which node found it, and what became of it.
type FraudEvent struct {
	fraud.Finding
	Node string `json:"node"`
	// Outcome: "alert"; for a block finding "proposing", then "blocked",
	// "already blocked (ID)" or "block failed: …".
	Outcome string `json:"outcome"`
}

func newFraudControl(n *Node) *fraudControl {
	return &fraudControl{n: n, log: n.log.With("component", "fraud"), det: fraud.New(fraud.DefaultConfig()),
		blocks: make(chan fraud.Finding, 256), reload: make(chan struct{}, 1), stop: make(chan struct{})}
}

// start loads the network's fraud settings and starts the proposer.
func (fc *fraudControl) start() {
	fc.loadConfig()
	fc.wg.Add(1)
	go fc.run()
}

func (fc *fraudControl) close() {
	select {
	case <-fc.stop:
	default:
		close(fc.stop)
	}
	fc.wg.Wait()
}

func (fc *fraudControl) run() {
	defer fc.wg.Done()
	for {
		select {
		case <-fc.stop:
			return
		case <-fc.reload:
			fc.loadConfig()
		case f := <-fc.blocks:
			fc.propose(f)
		}
	}
}

// loadConfig applies the network's fraud settings to the detector (its
// baselines stay). Settings that do not validate (apply refuses them, so
// only a newer build's could) leave the detector as it is.
func (fc *fraudControl) loadConfig() {
	net, err := fc.n.store.Network()
	if err != nil && !isNotFound(err) {
		fc.log.Warn("fraud: read network settings", "err", err)
		return
	}
	cfg, err := fraud.FromSettings(net.Fraud)
	if err != nil {
		fc.log.Error("fraud: network settings ignored", "err", err)
		return
	}
	fc.det.SetConfig(cfg)
	fc.off.Store(cfg.Disabled)
}

// observe is the FSM's hook: cmds as applied and their results (a nil
// result: an index already applied, not fed again).
func (fc *fraudControl) observe(cmds, results [][]byte) {
	for i, c := range cmds {
		if len(c) < 2 || i >= len(results) || len(results[i]) == 0 {
			continue
		}
		switch ledger.CommandType(c[0]) {
		case ledger.TypeSetNetwork:
			select {
			case fc.reload <- struct{}{}:
			default:
			}
		case ledger.TypeAuthorize:
			if !fc.off.Load() {
				fc.observeAuthorize(c, results[i])
			}
		case ledger.TypeRecordUsage:
			if !fc.off.Load() {
				fc.observeUsage(c, results[i])
			}
		}
	}
}

// observeAuthorize feeds an admitted authorisation to the detector.
func (fc *fraudControl) observeAuthorize(raw, result []byte) {
	code, tx, ok := ledger.ResultHead(result)
	if !ok || code != ledger.OK {
		return // refused, or a retry of a call already counted
	}
	a, err := ledger.DecodeAuthorizeCall(raw)
	if err != nil {
		return
	}
	fc.handle(fc.det.Authorize(fraudAuth(&a, tx)))
}

// observeUsage feeds a recorded source final to the detector.
func (fc *fraudControl) observeUsage(raw, result []byte) {
	if code, _, ok := ledger.ResultHead(result); !ok || code != ledger.OK {
		return
	}
	u, err := ledger.DecodeUsageCall(raw)
	if err != nil {
		return
	}
	if ev, ok := fraudUsage(&u); ok {
		fc.handle(fc.det.Usage(ev))
	}
}

// fraudAuth is the detector's event for admitted authorisation a of
// transaction tx (the applied command's, or one rebuilt from the ledger's
// transaction: fraud_rebuild.go).
func fraudAuth(a *ledger.AuthorizeCall, tx uint64) fraud.Auth {
	until := a.ActiveUntil
	if until.IsZero() && a.TimeLimit > 0 {
		until = a.At.Add(secondsDur(int(a.TimeLimit)))
	}
	return fraud.Auth{Member: a.SourceMember, Calling: callingDigits(a.Calling), Called: a.Called, At: a.At, Tx: tx, Until: until}
}

// fraudUsage is the detector's event for recorded usage u; false for the
// records the detector does not read: only a member's source final (or a
// record from before the lifecycle) ends a call and counts its time.
func fraudUsage(u *ledger.UsageCall) (fraud.Usage, bool) {
	if u.Role != ledger.RoleSource || !(u.Phase.EndsCall() || u.Phase == ledger.PhaseNone) {
		return fraud.Usage{}, false
	}
	member, ok := strings.CutPrefix(u.Reporter, "member:")
	if !ok {
		return fraud.Usage{}, false
	}
	return fraud.Usage{Member: member, Tx: u.TransactionID, Called: u.Called, At: u.At,
		Duration: time.Duration(u.DurationMillis) * time.Millisecond}, true
}

// handle counts, records and, for a block, queues each finding.
func (fc *fraudControl) handle(fs []fraud.Finding) {
	for _, f := range fs {
		fc.findings[ruleIndex(f.Rule)][actionIndex(f.Action)].Add(1)
		outcome := "alert"
		switch {
		case f.Action != fraud.ActionBlock:
		case fc.n.now != nil && fc.n.now().Sub(f.At) > staleFinding:
			// This replica is catching up on old log entries: the nodes
			// that applied them live have acted on them already (the same
			// finding, or their own history's); blocking now would act on
			// old evidence that nobody may have seen fire.
			outcome = "not proposed: evidence older than " + staleFinding.String() + " (replica catching up)"
		default:
			outcome = "proposing"
			select {
			case fc.blocks <- f:
			default:
				fc.dropped.Add(1)
				outcome = "block failed: proposal queue full"
			}
		}
		fc.log.Warn("fraud: "+string(f.Rule), "action", f.Action, "member", f.Member, "prefix", f.Prefix,
			"calling", f.Calling, "id", f.ID, "evidence", f.Evidence)
		fc.record(FraudEvent{Finding: f, Node: fc.n.cfg.NodeID, Outcome: outcome})
	}
}

func (fc *fraudControl) record(ev FraudEvent) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.events) >= maxFraudEvents {
		copy(fc.events, fc.events[1:])
		fc.events = fc.events[:len(fc.events)-1]
	}
	fc.events = append(fc.events, ev)
}

func (fc *fraudControl) setOutcome(id, outcome string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for i := len(fc.events) - 1; i >= 0; i-- {
		if fc.events[i].ID == id {
			fc.events[i].Outcome = outcome
			return
		}
	}
}

// Events returns up to limit findings, newest first.
func (fc *fraudControl) Events(limit int) []FraudEvent {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := make([]FraudEvent, 0, min(limit, len(fc.events)))
	for i := len(fc.events) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, fc.events[i])
	}
	return out
}

// propose turns a block finding into a FraudBlock, retrying a few times
// while the cluster is unavailable (another node proposes the same block
// anyway).
func (fc *fraudControl) propose(f fraud.Finding) {
	cmd := &ledger.FraudBlock{ID: f.ID, At: f.At, Member: f.Member, Prefix: f.Prefix, Calling: f.Calling,
		Rule: string(f.Rule), By: "node:" + fc.n.cfg.NodeID, Reason: "automatic: fraud rule " + string(f.Rule),
		Evidence: f.Evidence}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 500 * time.Millisecond)
			select {
			case <-fc.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var res *ledger.Result
		res, err = fc.n.Propose(ctx, cmd)
		cancel()
		if err == nil {
			switch {
			case res.Code == ledger.OK:
				fc.setOutcome(f.ID, "blocked")
				fc.log.Warn("fraud: blocked", "id", f.ID, "rule", f.Rule, "member", f.Member, "prefix", f.Prefix, "calling", f.Calling)
			case res.Code == ledger.Duplicate:
				fc.setOutcome(f.ID, "already blocked ("+res.Message+")")
			default:
				fc.setOutcome(f.ID, "block failed: "+res.Message)
				fc.log.Error("fraud: block refused by the ledger", "id", f.ID, "code", res.Code, "msg", res.Message)
			}
			return
		}
		if !errors.Is(err, ErrUnavailable) {
			break
		}
	}
	fc.setOutcome(f.ID, "block failed: "+err.Error())
	fc.log.Error("fraud: block not proposed", "id", f.ID, "err", err)
}

func ruleIndex(r fraud.Rule) int {
	for i, x := range fraud.Rules {
		if x == r {
			return i
		}
	}
	return 0
}

func actionIndex(a fraud.Action) int {
	for i, x := range fraud.Actions {
		if x == a {
			return i
		}
	}
	return 0
}
