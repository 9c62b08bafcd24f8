package federation

import (
	"fmt"
	"strconv"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// UsageComponentID is the componentId an outbox item is sent under: its
// outbox id in decimal. It is stable across retries and leader changes,
// so the peer's usage idempotency key (its TransactionId, role source,
// componentId) makes every redelivery a harmless duplicate.
func UsageComponentID(item ledger.OutboxItem) string {
	return strconv.FormatUint(item.ID, 10)
}

// UsageIndicationFor returns the UsageIndication that cascades item to its
// peer: the UPSTREAM TransactionId, role source (we are the source side
// towards the peer), our identity there, and the call's numbers, Call-ID,
// times, duration (seconds with milliseconds) and termination cause (Q.850).
func UsageIndicationFor(item ledger.OutboxItem, id Identity) *osp.UsageIndication {
	u := item.Usage
	ui := &osp.UsageIndication{
		Timestamp:     u.RecordedAt.UTC(),
		Role:          osp.RoleSource,
		TransactionID: item.UpstreamTransactionID,
	}
	if u.CallID != "" {
		ui.CallID = osp.Binary(u.CallID)
	}
	if u.Calling != "" {
		ui.SourceInfo = osp.TypedValues{{Type: osp.TypeE164, Value: u.Calling}}
	}
	if u.Called != "" {
		ui.DestinationInfo = osp.TypedValues{{Type: osp.TypeE164, Value: u.Called}}
	}
	if id.SourceAddress != "" {
		ui.DeviceInfo = osp.TypedValues{{Type: osp.TypeTransport, Value: id.SourceAddress}}
	}
	if id.NetworkID != "" {
		ui.SourceAlternate = osp.TypedValues{{Type: osp.TypeNetwork, Value: id.NetworkID}}
	}
	ui.DeviceID, ui.CustomerID = id.DeviceID, id.CustomerID
	ms := max(u.DurationMillis, 0)
	ud := &osp.UsageDetail{
		Service:     &osp.Service{},
		Amount:      fmt.Sprintf("%d.%03d", ms/1000, ms%1000),
		Increment:   1,
		Unit:        osp.UnitSeconds,
		StartTime:   u.Start.UTC(),
		ConnectTime: u.Connect.UTC(),
		EndTime:     u.End.UTC(),
	}
	if u.TerminationCause != 0 {
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: int(u.TerminationCause)}}
	}
	ui.UsageDetail = ud
	if u.RecordedAt.IsZero() {
		ui.Timestamp = item.CreatedAt.UTC()
	}
	return ui
}
