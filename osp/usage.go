package osp

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// UnitSeconds is the only UsageDetail Unit the toolkit understands.
const UnitSeconds = "s"

// UsageDetail is a <UsageDetail>: in a response, the authorised time limit
// (Amount × Increment Unit); in a UsageIndication, the call's duration, its
// times, termination causes and statistics. Every field is optional.
type UsageDetail struct {
	Service *Service `json:"service,omitempty"`
	// Amount is the exact decimal text, e.g. "30.000" seconds of usage or
	// "3600" seconds of time limit. Settlement parses it without floats.
	Amount    string `json:"amount,omitempty"`
	Increment int    `json:"increment,omitempty"`
	Unit      string `json:"unit,omitempty"`

	TerminationCause  []TerminationCause `json:"terminationCause,omitempty"`
	SignalingProtocol TypedValues        `json:"signalingProtocol,omitempty"`
	Codec             []Codec            `json:"codec,omitempty"`
	SessionID         []SessionID        `json:"sessionId,omitempty"`
	// PostDialDelay in seconds (decimal text), by type source/destination.
	PostDialDelay TypedValues `json:"postDialDelay,omitempty"`

	StartTime   time.Time `json:"startTime,omitzero"`
	EndTime     time.Time `json:"endTime,omitzero"`
	AlertTime   time.Time `json:"alertTime,omitzero"`
	ConnectTime time.Time `json:"connectTime,omitzero"`
	// ReleaseSource: source, destination, internal, external, unknown.
	ReleaseSource string `json:"releaseSource,omitempty"`

	Statistics *Statistics `json:"statistics,omitempty"`

	SourceAudioAddress      string `json:"sourceAudioAddress,omitempty"`
	SourceVideoAddress      string `json:"sourceVideoAddress,omitempty"`
	DestinationAudioAddress string `json:"destinationAudioAddress,omitempty"`
	DestinationVideoAddress string `json:"destinationVideoAddress,omitempty"`
}

// TerminationCause is a <TerminationCause type="q850|h323|sip|xmpp">.
type TerminationCause struct {
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Description string `json:"description,omitempty"`
}

// Codec is a <Codec service="voice|video" type="source|destination">.
type Codec struct {
	Service string `json:"service,omitempty"`
	Type    string `json:"type,omitempty"`
	Value   string `json:"value"`
}

// SessionID is a <SessionId type="source|destination|correlation|local|remote">
// (base64 on the wire).
type SessionID struct {
	Type  string `json:"type,omitempty"`
	Value Binary `json:"value"`
}

// Statistics is the <Statistics> of a UsageDetail: packet loss and the
// media quality metrics a proxy reports. Numbers are kept as the decimal
// text received ("" when absent): they are informational, never rated.
type Statistics struct {
	LossSent     *Loss           `json:"lossSent,omitempty"`
	LossReceived *Loss           `json:"lossReceived,omitempty"`
	OneWayDelay  *Dispersion     `json:"oneWayDelay,omitempty"`
	Metrics      []Metrics       `json:"metrics,omitempty"`
	RFactor      []DirectedValue `json:"rFactor,omitempty"`
	MOSCQ        []DirectedValue `json:"mosCQ,omitempty"`
	MOSLQ        []DirectedValue `json:"mosLQ,omitempty"`
	ICPIF        []DirectedValue `json:"icpif,omitempty"`
}

// Loss is a <LossSent>, <LossReceived> or <Lost direction="…">.
type Loss struct {
	Direction string `json:"direction,omitempty"`
	Packets   string `json:"packets,omitempty"`
	Fraction  string `json:"fraction,omitempty"`
}

// Dispersion is a <Jitter>, <Delay>, <RoundTripDelay> or <OneWayDelay>:
// sample statistics, with a direction or type attribute.
type Dispersion struct {
	Direction string `json:"direction,omitempty"`
	Type      string `json:"type,omitempty"`
	Samples   string `json:"samples,omitempty"`
	Minimum   string `json:"minimum,omitempty"`
	Maximum   string `json:"maximum,omitempty"`
	Mean      string `json:"mean,omitempty"`
	Variance  string `json:"variance,omitempty"`
}

// DirectedValue is a value with a direction attribute (<RFactor>, <MOSCQ>,
// <TotalOctets>, …).
type DirectedValue struct {
	Direction string `json:"direction,omitempty"`
	Value     string `json:"value"`
}

// Metrics is a <Metrics service="voice|video" type="rtp|rtcp">.
type Metrics struct {
	Service        string          `json:"service,omitempty"`
	Type           string          `json:"type,omitempty"`
	Lost           []Loss          `json:"lost,omitempty"`
	Jitter         []Dispersion    `json:"jitter,omitempty"`
	Delay          []Dispersion    `json:"delay,omitempty"`
	RoundTripDelay []Dispersion    `json:"roundTripDelay,omitempty"`
	TotalOctets    []DirectedValue `json:"totalOctets,omitempty"`
	TotalPackets   []DirectedValue `json:"totalPackets,omitempty"`
}

// Binary is a binary element value (CallId, Token, SessionId): raw bytes in
// memory, base64 on the wire. Its JSON form is the text itself when it is
// printable UTF-8 (Call-IDs, "V=1" tokens) and {"base64": "…"} otherwise.
type Binary []byte

// MarshalJSON implements json.Marshaler.
func (b Binary) MarshalJSON() ([]byte, error) {
	if printable(b) {
		return json.Marshal(string(b))
	}
	return json.Marshal(struct {
		Base64 string `json:"base64"`
	}{base64.StdEncoding.EncodeToString(b)})
}

// UnmarshalJSON implements json.Unmarshaler for both forms of MarshalJSON.
func (b *Binary) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*b = Binary(s)
		return nil
	}
	var o struct {
		Base64 *string `json:"base64"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return err
	}
	if o.Base64 == nil {
		return errors.New("osp: binary value is neither a string nor {\"base64\": …}")
	}
	raw, err := base64.StdEncoding.DecodeString(*o.Base64)
	if err != nil {
		return err
	}
	*b = raw
	return nil
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	return !strings.ContainsFunc(string(b), func(r rune) bool {
		return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == utf8.RuneError
	})
}
