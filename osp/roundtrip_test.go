package osp

import (
	"encoding/json"
	"flag"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomised round-trip tests (0: time-based)")

func testSeed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// gen fills values with random but canonical content: what Decode could
// have produced (trimmed text, UTC whole-second times, nil for absent).
type gen struct{ r *rand.Rand }

var textRunes = []rune("abcXYZ0189 &<>\"'#:;[]@.=/é€_-")

func (g gen) text() string {
	n := g.r.IntN(12)
	var b strings.Builder
	for range n {
		b.WriteRune(textRunes[g.r.IntN(len(textRunes))])
	}
	return strings.TrimSpace(b.String())
}

func (g gen) word() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	n := 1 + g.r.IntN(8)
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[g.r.IntN(len(letters))]
	}
	return string(b)
}

func (g gen) decimal() string {
	s := strconv.Itoa(g.r.IntN(100000))
	if g.r.IntN(2) == 0 {
		s += "." + strconv.Itoa(g.r.IntN(1000))
	}
	return s
}

var timeType = reflect.TypeFor[time.Time]()

// fill sets v (addressable) to random content, recursing up to depth.
func (g gen) fill(v reflect.Value, depth int) {
	switch {
	case v.Type() == timeType:
		if g.r.IntN(4) != 0 {
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000+g.r.Int64N(200_000_000), 0).UTC()))
		}
		return
	case v.Type() == reflect.TypeFor[Binary]():
		if g.r.IntN(3) != 0 {
			b := make([]byte, 1+g.r.IntN(24))
			for i := range b {
				b[i] = byte(g.r.IntN(256))
			}
			v.SetBytes(b)
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(g.text())
	case reflect.Int:
		v.SetInt(int64(g.r.IntN(5000)))
	case reflect.Uint64:
		v.SetUint(g.r.Uint64N(1 << 63))
	case reflect.Bool:
		v.SetBool(g.r.IntN(2) == 0)
	case reflect.Pointer:
		if depth <= 0 || g.r.IntN(3) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		g.fill(p.Elem(), depth-1)
		v.Set(p)
	case reflect.Slice:
		n := g.r.IntN(3)
		if depth <= 0 || n == 0 {
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			g.fill(s.Index(i), depth-1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				g.fill(v.Field(i), depth)
			}
		}
	}
}

// fixUsage makes a UsageDetail obey the encoder's contract.
func (g gen) fixUsage(u *UsageDetail) {
	if u == nil {
		return
	}
	if u.Amount != "" {
		u.Amount = g.decimal()
	}
	u.Unit = ""
	if u.Amount != "" || u.Increment != 0 {
		u.Unit = UnitSeconds
	}
	for i := range u.PostDialDelay {
		u.PostDialDelay[i].Value = g.decimal()
	}
	for i := range u.TerminationCause {
		u.TerminationCause[i].Type = g.word() + strconv.Itoa(i) // one cause per type
	}
}

func (g gen) fixStatus(s *Status, ok bool) {
	if ok {
		s.Code = 200 + g.r.IntN(100)
	} else {
		s.Code = 300 + g.r.IntN(700)
	}
	if s.Description == "" {
		s.Description = "d"
	}
}

func (g gen) fixTime(t *time.Time) {
	if t.IsZero() {
		*t = time.Unix(1_800_000_000, 0).UTC()
	}
}

// distinctTypes gives every value of each list its own type: a number
// element appears once per type (the decoder refuses a repeat).
func distinctTypes(lists ...TypedValues) {
	for _, l := range lists {
		for i := range l {
			l[i].Type += strconv.Itoa(i)
		}
	}
}

func (g gen) fixDest(d *Destination) {
	d.SignalAddress = "[192.0.2." + strconv.Itoa(g.r.IntN(255)) + "]:5060"
	d.Token = []byte("V=1\n" + g.word())
	d.CallID = []byte(g.word())
	for i := range d.DestinationInfo {
		d.DestinationInfo[i].Type = "np" + g.word() // never e164
	}
	for i := range d.DestinationAlternate {
		d.DestinationAlternate[i].Type = "t" + g.word() // never network
	}
	g.fixUsage(d.UsageDetail)
	if d.UsageDetail != nil && d.UsageDetail.Amount != "" {
		d.UsageDetail.Amount = strconv.Itoa(g.r.IntN(7200))
	}
}

// message returns a random valid message of one or more components.
func (g gen) message() *Message {
	m := &Message{MessageID: strconv.FormatUint(g.r.Uint64(), 10), Random: g.word()}
	n := 1 + g.r.IntN(3)
	for range n {
		m.Components = append(m.Components, g.component(Kind(1+g.r.IntN(int(KindPricingConfirmation)))))
	}
	return m
}

func (g gen) component(k Kind) Component {
	c := Component{ID: strconv.Itoa(g.r.IntN(1 << 30))}
	cv := reflect.ValueOf(&c).Elem()
	f := cv.FieldByName(k.String())
	p := reflect.New(f.Type().Elem())
	g.fill(p.Elem(), 4)
	f.Set(p)
	switch k {
	case KindAuthorizationRequest:
		r := c.AuthorizationRequest
		distinctTypes(r.SourceInfo, r.DestinationInfo)
		for i := range r.CallIDs {
			if len(r.CallIDs[i]) == 0 {
				r.CallIDs[i] = Binary("x")
			}
		}
	case KindAuthorizationResponse:
		r := c.AuthorizationResponse
		g.fixTime(&r.Timestamp)
		g.fixStatus(&r.Status, len(r.Destinations) > 0 || g.r.IntN(2) == 0)
		for i := range r.Destinations {
			g.fixDest(&r.Destinations[i])
		}
	case KindReauthorizationResponse:
		r := c.ReauthorizationResponse
		g.fixTime(&r.Timestamp)
		g.fixStatus(&r.Status, false)
		r.Destinations = nil
	case KindAuthorizationIndication:
		g.fixUsage(c.AuthorizationIndication.UsageDetail)
		distinctTypes(c.AuthorizationIndication.SourceInfo, c.AuthorizationIndication.DestinationInfo)
	case KindAuthorizationConfirmation:
		r := c.AuthorizationConfirmation
		g.fixTime(&r.Timestamp)
		g.fixStatus(&r.Status, g.r.IntN(2) == 0)
		g.fixUsage(r.UsageDetail)
	case KindUsageIndication:
		g.fixUsage(c.UsageIndication.UsageDetail)
		distinctTypes(c.UsageIndication.SourceInfo, c.UsageIndication.DestinationInfo)
	case KindReauthorizationRequest:
		g.fixUsage(c.ReauthorizationRequest.UsageDetail)
	case KindUsageConfirmation:
		g.fixTime(&c.UsageConfirmation.Timestamp)
		g.fixStatus(&c.UsageConfirmation.Status, true)
	case KindCapabilitiesConfirmation:
		g.fixTime(&c.CapabilitiesConfirmation.Timestamp)
		g.fixStatus(&c.CapabilitiesConfirmation.Status, true)
	case KindPricingIndication:
		r := c.PricingIndication
		if r.Amount != "" {
			r.Amount = g.decimal()
		}
	case KindPricingConfirmation:
		g.fixTime(&c.PricingConfirmation.Timestamp)
		g.fixStatus(&c.PricingConfirmation.Status, true)
	}
	return c
}

// TestRoundTrip: decode(encode(m)) == m for random messages of every
// kind, and every encoding passes the toolkit rules checker.
func TestRoundTrip(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(testSeed(t), 7))}
	for i := range 2000 {
		m := g.message()
		b, err := Encode(m)
		if err != nil {
			j, _ := json.Marshal(m)
			t.Fatalf("message %d: encode: %v\n%s", i, err, j)
		}
		if err := CheckToolkitRules(b); err != nil {
			t.Fatalf("message %d: rules: %v\n%s", i, err, b)
		}
		back, err := Decode(b, Limits{})
		if err != nil {
			t.Fatalf("message %d: decode: %v\n%s", i, err, b)
		}
		if !reflect.DeepEqual(back, m) {
			a, _ := json.MarshalIndent(m, "", " ")
			c, _ := json.MarshalIndent(back, "", " ")
			t.Fatalf("message %d: round trip differs: %s\nwant %s\ngot  %s\nxml %s", i, firstDiff("m", reflect.ValueOf(m), reflect.ValueOf(back)), a, c, b)
		}
	}
}

// TestEveryKindPassesRules encodes a fully populated component of each
// kind (with the answers a server gives) and runs the rules checker.
func TestEveryKindPassesRules(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(testSeed(t), 11))}
	for k := KindAuthorizationRequest; k <= KindPricingConfirmation; k++ {
		t.Run(k.String(), func(t *testing.T) {
			for range 50 {
				m := &Message{MessageID: "1", Components: []Component{g.component(k)}}
				b, err := Encode(m)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if err := CheckToolkitRules(b); err != nil {
					t.Fatalf("rules: %v\n%s", err, b)
				}
			}
		})
	}
}
