package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// ospHandler serves OSP: POST to any path (the toolkit's service-point URL
// decides the path; /osp by convention) and GET /healthz.
func (n *Node) ospHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			n.handleOSP(w, r)
		case r.Method == http.MethodGet && r.URL.Path == "/healthz":
			n.handleHealthz(w, r)
		default:
			plain(w, http.StatusMethodNotAllowed, "OSP requests are POSTed\n")
		}
	})
}

// plain writes a small text/plain HTTP response with Content-Length.
func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// sniffBytes is how much of a request body is kept to answer a request
// that cannot be decoded: the messageId and the first component's name
// and id sit in its first few hundred bytes.
const sniffBytes = 2048

// sniffTee keeps the first sniffBytes of what ReadRequest reads, and
// charges what it reads to the connection's share of the body budget.
type sniffTee struct {
	r    io.ReadCloser
	buf  []byte
	b    *budget
	conn *budgetConn
	over bool // the budget refused this request's bytes
}

func (t *sniffTee) Read(p []byte) (int, error) {
	k, err := t.r.Read(p)
	if room := sniffBytes - len(t.buf); room > 0 {
		t.buf = append(t.buf, p[:min(k, room)]...)
	}
	if t.b != nil {
		if berr := t.b.charge(t.conn, k); berr != nil {
			t.over = true
			return k, berr
		}
	}
	return k, err
}

func (t *sniffTee) Close() error { return t.r.Close() }

var sniffPool = sync.Pool{New: func() any { return &sniffTee{buf: make([]byte, 0, sniffBytes)} }}

func (n *Node) requestTimeout() time.Duration { return n.cfg.RequestTimeout }

func (n *Node) handleOSP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	v, err := n.state.get()
	if err != nil {
		n.log.Error("osp: state unavailable", "err", err)
		plain(w, http.StatusServiceUnavailable, "state unavailable\n")
		return
	}
	if h := n.cons.Halted(); h != nil {
		// This replica stopped applying its log: its state is stale. 503
		// sends the toolkit to the next service point.
		plain(w, http.StatusServiceUnavailable, "node halted: cannot apply its log at entry "+strconv.FormatUint(h.Index, 10)+"\n")
		return
	}
	if !n.caughtUp.Load() {
		// Started from its own disk and not caught up with its cluster
		// yet (catchup.go): its state may be far behind. 503 makes the
		// toolkit try its next service point.
		w.Header().Set("Retry-After", "1")
		plain(w, http.StatusServiceUnavailable, "node not ready: catching up with its cluster\n")
		return
	}
	if v.network.ID == "" {
		// No network in this replica's ledger yet: a node that has just
		// started or joined and not caught up. 503 makes the toolkit try
		// its next service point; 403 would refuse the call for good.
		plain(w, http.StatusServiceUnavailable, "node not ready: no network configured in its ledger yet\n")
		return
	}
	c := callerOf(r)
	if !v.mayBeMember(c) {
		// Cheap refusal: nothing could identify this sender, so its body is
		// never read or parsed.
		n.met.refused.Add(1)
		plain(w, http.StatusForbidden, "unknown source\n")
		return
	}
	conn := budgetConnOf(r)
	tee := sniffPool.Get().(*sniffTee)
	body := r.Body
	tee.r, tee.buf, tee.b, tee.conn, tee.over = body, tee.buf[:0], n.ospBudget, conn, false
	r.Body = tee
	m, err := osp.ReadRequest(r, n.cfg.Limits)
	// net/http's own body again: after the handler it looks at what is left
	// unread and closes the connection at once when that is too much to
	// drain; behind a wrapper it would read up to 256 KiB of it first,
	// waiting for a slow sender until the read timeout before answering.
	r.Body = body
	over := tee.over
	n.ospBudget.done(conn, err == nil)
	if err != nil {
		if over || errors.Is(err, osp.ErrLimit) || (errors.Is(err, osp.ErrFraming) && (len(r.TransferEncoding) > 0 || r.ContentLength < 0)) {
			// The body was not (all) read — over the budget, over the
			// length limit, chunked, or no length: what follows on the
			// connection cannot be framed, so do not keep it.
			w.Header().Set("Connection", "close")
		}
		if over {
			plain(w, http.StatusServiceUnavailable, "busy: too many request bytes in flight\n")
		} else {
			n.answerUndecodable(w, tee.buf, err)
		}
		tee.r, tee.conn = nil, nil
		sniffPool.Put(tee)
		return
	}
	tee.r, tee.conn = nil, nil
	sniffPool.Put(tee)

	ctx, cancel := context.WithTimeout(r.Context(), n.requestTimeout())
	defer cancel()
	rq := &request{n: n, v: v, c: c, msg: m, now: n.now().UTC()}
	resp := &osp.Message{MessageID: m.MessageID, Random: strconv.FormatUint(uint64(rand.Uint32()), 10)}
	resp.Components = make([]osp.Component, len(m.Components))
	kinds := make([]string, len(m.Components))
	if len(m.Components) == 1 {
		resp.Components[0], kinds[0] = rq.answerRecovered(ctx, &m.Components[0])
	} else {
		// Components of one message (usage from a batch of calls) are
		// proposed concurrently so that they share a Raft entry.
		var wg sync.WaitGroup
		for i := range m.Components {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp.Components[i], kinds[i] = rq.answerRecovered(ctx, &m.Components[i])
			}()
		}
		wg.Wait()
	}
	out := resp.Components[:0]
	for i, comp := range resp.Components {
		if comp.Kind() == osp.KindUnknown {
			continue // an unexpected component (a response sent to us)
		}
		st, _ := comp.Status()
		n.met.observe(kinds[i], st.Code)
		out = append(out, comp)
	}
	resp.Components = out
	if len(out) == 0 {
		n.met.badHTTP.Add(1)
		plain(w, http.StatusBadRequest, "no OSP request component to answer\n")
		return
	}
	if err := osp.WriteMessage(w, resp); err != nil {
		n.log.Error("osp: write response", "err", err)
	}
	n.met.latencyOf(kinds[0], time.Since(start))
}

var (
	sniffMessageID = regexp.MustCompile(`<Message\s[^>]*messageId="([0-9A-Za-z._-]{1,64})"`)
	sniffComponent = regexp.MustCompile(`<((?:Authori[sz]ation|Reauthori[sz]ation)(?:Request|Indication)|UsageIndication|CapabilitiesIndication|PricingIndication)\s[^>]*componentId="([0-9A-Za-z._-]{0,64})"`)
)

// answerUndecodable answers a request osp could not decode. When the
// message id and the first component can be recovered from the raw bytes,
// the answer is a valid OSP response of the matching type carrying the
// decoder's status code (400, 411, 412, …); otherwise HTTP 400, since no
// OSP Message can be formed.
func (n *Node) answerUndecodable(w http.ResponseWriter, raw []byte, err error) {
	code := osp.ErrorStatus(err)
	n.log.Debug("osp: undecodable request", "status", code, "err", err)
	mm := sniffMessageID.FindSubmatch(raw)
	cm := sniffComponent.FindSubmatch(raw)
	if mm == nil || cm == nil {
		n.met.badHTTP.Add(1)
		plain(w, http.StatusBadRequest, "not an OSP message: "+err.Error()+"\n")
		return
	}
	comp := osp.Component{ID: string(cm[2])}
	now := n.now().UTC()
	st := osp.NewStatus(code)
	kind := string(bytes.ReplaceAll(cm[1], []byte("isation"), []byte("ization")))
	switch kind {
	case "AuthorizationRequest":
		comp.AuthorizationResponse = &osp.AuthorizationResponse{Timestamp: now, Status: st}
	case "AuthorizationIndication":
		comp.AuthorizationConfirmation = &osp.AuthorizationConfirmation{Timestamp: now, Status: st}
	case "UsageIndication":
		comp.UsageConfirmation = &osp.UsageConfirmation{Timestamp: now, Status: st}
	case "ReauthorizationRequest":
		comp.ReauthorizationResponse = &osp.ReauthorizationResponse{Timestamp: now, Status: st}
	case "CapabilitiesIndication":
		comp.CapabilitiesConfirmation = &osp.CapabilitiesConfirmation{Timestamp: now, Status: st}
	case "PricingIndication":
		comp.PricingConfirmation = &osp.PricingConfirmation{Timestamp: now, Status: st}
	}
	n.met.observe(kind, code)
	resp := &osp.Message{MessageID: string(mm[1]), Components: []osp.Component{comp}}
	if werr := osp.WriteMessage(w, resp); werr != nil {
		n.log.Error("osp: write refusal", "err", werr)
	}
}

// request is the context of one OSP message being answered.
type request struct {
	n   *Node
	v   *view
	c   caller
	msg *osp.Message
	now time.Time
}

// answer dispatches one component and returns its answer and the metric
// label of its type. An unexpected kind returns a zero Component.
func (rq *request) answer(ctx context.Context, c *osp.Component) (osp.Component, string) {
	k := c.Kind()
	switch k {
	case osp.KindAuthorizationRequest:
		return rq.authorize(ctx, c), k.String()
	case osp.KindUsageIndication:
		return rq.usage(ctx, c), k.String()
	case osp.KindAuthorizationIndication:
		return rq.validate(ctx, c), k.String()
	case osp.KindCapabilitiesIndication:
		return rq.capabilities(c), k.String()
	case osp.KindReauthorizationRequest:
		// The stock toolkit crashes on any ReauthorizationResponse it can
		// parse, a refusal included: always refuse, and osp's encoder adds
		// the critical element that makes the toolkit refuse the answer
		// while parsing (osp.ElemReauthUnsupported).
		return osp.Component{ID: c.ID, ReauthorizationResponse: &osp.ReauthorizationResponse{
			Timestamp: rq.now, Status: osp.NewStatus(osp.StatusReauthorizationRefused),
			TransactionID: c.ReauthorizationRequest.TransactionID}}, k.String()
	case osp.KindPricingIndication:
		return osp.Component{ID: c.ID, PricingConfirmation: &osp.PricingConfirmation{
			Timestamp: rq.now, Status: osp.NewStatus(osp.StatusUnimplemented)}}, k.String()
	}
	return osp.Component{}, k.String()
}

// capabilities confirms a CapabilitiesIndication from a known member.
func (rq *request) capabilities(c *osp.Component) osp.Component {
	ci := c.CapabilitiesIndication
	st := osp.NewStatus(osp.StatusOK)
	if rq.v.identify(rq.c, ci.DeviceID, ci.CustomerID, ci.DeviceInfo.Get(osp.TypeTransport)) == nil {
		st = osp.NewStatus(osp.StatusUnauthorized)
	}
	return osp.Component{ID: c.ID, CapabilitiesConfirmation: &osp.CapabilitiesConfirmation{Timestamp: rq.now, Status: st}}
}
