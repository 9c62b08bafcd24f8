package node

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// answerRecovered is answer with a recover: a panic while answering one
// component (a bug; components of one message are answered in their own
// goroutines, where an unrecovered panic would kill the whole process)
// answers that component 500, logs the panic with its stack and counts it
// in ospnode_osp_panics_total. The other components of the message are
// answered as usual.
func (rq *request) answerRecovered(ctx context.Context, c *osp.Component) (comp osp.Component, kind string) {
	defer func() {
		if p := recover(); p != nil {
			rq.n.met.panics.Add(1)
			kind = c.Kind().String()
			rq.n.log.Error("osp: recovered panic answering a component", "kind", kind, "component", c.ID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			comp = statusAnswer(c.Kind(), c.ID, rq.now, osp.NewStatus(osp.StatusInternalError))
		}
	}()
	return rq.answer(ctx, c)
}

// statusAnswer returns the answer to a request component of kind k that
// carries only st (a refusal), or a zero Component for a kind that is not
// a request.
func statusAnswer(k osp.Kind, id string, now time.Time, st osp.Status) osp.Component {
	comp := osp.Component{ID: id}
	switch k {
	case osp.KindAuthorizationRequest:
		comp.AuthorizationResponse = &osp.AuthorizationResponse{Timestamp: now, Status: st}
	case osp.KindAuthorizationIndication:
		comp.AuthorizationConfirmation = &osp.AuthorizationConfirmation{Timestamp: now, Status: st}
	case osp.KindUsageIndication:
		comp.UsageConfirmation = &osp.UsageConfirmation{Timestamp: now, Status: st}
	case osp.KindReauthorizationRequest:
		comp.ReauthorizationResponse = &osp.ReauthorizationResponse{Timestamp: now, Status: st}
	case osp.KindCapabilitiesIndication:
		comp.CapabilitiesConfirmation = &osp.CapabilitiesConfirmation{Timestamp: now, Status: st}
	case osp.KindPricingIndication:
		comp.PricingConfirmation = &osp.PricingConfirmation{Timestamp: now, Status: st}
	}
	return comp
}
