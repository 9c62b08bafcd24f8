package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/fraud"
)

// The configuration file of `ospnode apply` and `ospnode export`: one YAML
// document describing a network's settings, rate decks, members, peers,
// trunks and routes (docs/examples/network.yaml is a complete example).
// It maps onto node.NetworkConfig, the JSON document of the admin API; the
// file has its own types (with yaml tags and operator-friendly shapes:
// "500 USD", rates in the deck's currency, deck and route CSVs by path)
// so that the file format does not change when a ledger record gains an
// internal field. Unknown keys are errors (a misspelt key must not be
// silently ignored), with their line.
//
// YAML library: go.yaml.in/yaml/v3, the YAML organisation's maintained
// continuation of gopkg.in/yaml.v3 (same API; gopkg.in/yaml.v3 is archived
// and gets no fixes). YAML rather than TOML because a route table and a
// deck's rows are long lists of small records, which YAML's flow style
// writes one per line.

// confFile is the file's top level.
type confFile struct {
	Network    *confNetwork `yaml:"network,omitempty"`
	Decks      []confDeck   `yaml:"decks,omitempty"`
	Members    []confMember `yaml:"members,omitempty"`
	Peers      []confPeer   `yaml:"peers,omitempty"`
	Trunks     []confTrunk  `yaml:"trunks,omitempty"`
	Routes     []confRoute  `yaml:"routes,omitempty"`
	RouteFiles []string     `yaml:"route_files,omitempty"` // route CSVs (`ospnode route import` format)
}

type confNetwork struct {
	ID           string     `yaml:"id"`
	Name         string     `yaml:"name,omitempty"`
	Currency     string     `yaml:"currency"`
	TxIDEpoch    uint8      `yaml:"txid_epoch,omitempty"`
	TxIDNetwork  uint8      `yaml:"txid_network,omitempty"`  // 1..255, fixed at network init; 0: none
	BillingBasis string     `yaml:"billing_basis,omitempty"` // own (default), source, destination, shorter
	Fraud        *confFraud `yaml:"fraud,omitempty"`         // fraud control; none: the shipped defaults
	// The issuer's address, tax id and billing email on statements, and
	// the payment terms of every counterparty without its own.
	confBilling `yaml:",inline"`
}

// confBilling is a party's billing identity (ledger.BillingIdentity), in
// the network, member and peer sections alike.
type confBilling struct {
	Address          []string `yaml:"address,omitempty"` // postal address, one line each (at most 6)
	TaxID            string   `yaml:"tax_id,omitempty"`  // VAT or registration number
	BillingEmail     string   `yaml:"billing_email,omitempty"`
	PaymentTermsDays *int     `yaml:"payment_terms_days,omitempty"` // due date = issue date + this (0: on issue)
}

func (b confBilling) ledger() ledger.BillingIdentity {
	return ledger.BillingIdentity{Address: b.Address, TaxID: b.TaxID, BillingEmail: b.BillingEmail, PaymentTermsDays: b.PaymentTermsDays}
}

func confBillingOf(b ledger.BillingIdentity) confBilling {
	return confBilling{Address: b.Address, TaxID: b.TaxID, BillingEmail: b.BillingEmail, PaymentTermsDays: b.PaymentTermsDays}
}

// confFraud is the network's fraud control settings (ledger.FraudSettings):
// what differs from the shipped defaults; durations in Go's notation
// ("10m", "24h"), whole seconds.
type confFraud struct {
	Disabled          bool            `yaml:"disabled,omitempty"`
	Learn             string          `yaml:"learn,omitempty"` // "0s": no learning period
	DestinationDigits int             `yaml:"destination_digits,omitempty"`
	MaxKeys           int             `yaml:"max_keys,omitempty"`
	MaxCalls          int             `yaml:"max_calls,omitempty"`
	HighRiskRanges    []confRange     `yaml:"high_risk_ranges,omitempty"` // replaces the shipped list
	Rules             []confFraudRule `yaml:"rules,omitempty"`
}

type confRange struct {
	Prefix string `yaml:"prefix"`
	Name   string `yaml:"name,omitempty"`
	Source string `yaml:"source,omitempty"`
}

type confFraudRule struct {
	Rule            string      `yaml:"rule"`
	Action          string      `yaml:"action,omitempty"` // off, alert or block
	Window          string      `yaml:"window,omitempty"`
	BaselineWindows int         `yaml:"baseline_windows,omitempty"`
	MinCalls        int         `yaml:"min_calls,omitempty"`
	Factor          confDecimal `yaml:"factor,omitempty"` // 3.5: 3.5 × the baseline (to 0.001)
	ShortSeconds    int         `yaml:"short_seconds,omitempty"`
	Ratio           confDecimal `yaml:"ratio,omitempty"`       // 0.8: 80% (to 0.001)
	MinMinutes      confDecimal `yaml:"min_minutes,omitempty"` // 30, 2.5 (whole seconds)
	NewFor          string      `yaml:"new_for,omitempty"`
	MaxConcurrent   int         `yaml:"max_concurrent,omitempty"`
}

// fraudSettings is f in the ledger's form; bad reports each duration
// that is not whole seconds.
func (f *confFraud) fraudSettings(bad func(string, ...any)) *ledger.FraudSettings {
	if f == nil {
		return nil
	}
	secs := func(what, s string) int {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d%time.Second != 0 {
			bad("network fraud %s %q: want a duration of whole seconds such as 10m or 24h", what, s)
			return 0
		}
		return int(d / time.Second)
	}
	out := &ledger.FraudSettings{Disabled: f.Disabled, DestinationDigits: f.DestinationDigits, MaxKeys: f.MaxKeys, MaxCalls: f.MaxCalls}
	if f.Learn != "" {
		l := secs("learn", f.Learn)
		out.LearnSeconds = &l
	}
	for _, r := range f.HighRiskRanges {
		out.HighRiskRanges = append(out.HighRiskRanges, ledger.FraudRange{Prefix: strings.TrimPrefix(r.Prefix, "+"), Name: r.Name, Source: r.Source})
	}
	for _, r := range f.Rules {
		// Decimals become the ledger's fixed-point integers exactly (no
		// floating point): factor and ratio in permille, minutes in seconds.
		fixed := func(field string, d confDecimal, scale int64) int64 {
			if d == "" {
				return 0
			}
			v, err := fraud.ParseDecimal(string(d), scale)
			if err != nil {
				bad("network fraud %s %s: %v", r.Rule, field, err)
			}
			return v
		}
		out.Rules = append(out.Rules, ledger.FraudRuleSettings{Rule: r.Rule, Action: r.Action, WindowSeconds: secs(r.Rule+" window", r.Window),
			BaselineWindows: r.BaselineWindows, MinCalls: r.MinCalls, FactorPermille: fixed("factor", r.Factor, fraud.Permille),
			ShortSeconds: r.ShortSeconds, RatioPermille: fixed("ratio", r.Ratio, fraud.Permille), MinSeconds: fixed("min_minutes", r.MinMinutes, 60),
			NewForSeconds: secs(r.Rule+" new_for", r.NewFor), MaxConcurrent: r.MaxConcurrent})
	}
	return out
}

// confFraudFrom is the file form of a network's fraud settings.
func confFraudFrom(s *ledger.FraudSettings) *confFraud {
	if s == nil {
		return nil
	}
	dur := func(secs int) string {
		if secs == 0 {
			return ""
		}
		return (time.Duration(secs) * time.Second).String()
	}
	f := &confFraud{Disabled: s.Disabled, DestinationDigits: s.DestinationDigits, MaxKeys: s.MaxKeys, MaxCalls: s.MaxCalls}
	if s.LearnSeconds != nil {
		f.Learn = (time.Duration(*s.LearnSeconds) * time.Second).String()
	}
	for _, r := range s.HighRiskRanges {
		f.HighRiskRanges = append(f.HighRiskRanges, confRange{Prefix: r.Prefix, Name: r.Name, Source: r.Source})
	}
	for _, r := range s.Rules {
		f.Rules = append(f.Rules, confFraudRule{Rule: r.Rule, Action: r.Action, Window: dur(r.WindowSeconds), BaselineWindows: r.BaselineWindows,
			MinCalls: r.MinCalls, Factor: decimalOf(r.FactorPermille, fraud.Permille), ShortSeconds: r.ShortSeconds,
			Ratio: decimalOf(r.RatioPermille, fraud.Permille), MinMinutes: decimalOf(r.MinSeconds, 60),
			NewFor: dur(r.NewForSeconds), MaxConcurrent: r.MaxConcurrent})
	}
	return f
}

// confDecimal is a decimal number of the file (factor: 3.5) kept as its
// text, so that it reaches the ledger's fixed-point integers exactly
// (fraud.ParseDecimal, which names the field when the text holds more
// precision than the unit) and is written back in the same form.
type confDecimal string

// UnmarshalYAML takes a plain number's text (1, 3.5, 0.8).
func (d *confDecimal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float" && n.ShortTag() != "!!str") {
		return fmt.Errorf("line %d: want a decimal number such as 3.5", n.Line)
	}
	*d = confDecimal(n.Value)
	return nil
}

// MarshalYAML writes the number unquoted.
func (d confDecimal) MarshalYAML() (any, error) {
	tag := "!!int"
	if strings.Contains(string(d), ".") {
		tag = "!!float"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(d)}, nil
}

// decimalOf is v/scale as the file's decimal text ("" for 0: the
// default). A value with no finite decimal form (a ledger written other
// than by apply, e.g. 1 s as minutes) is written to 6 places.
func decimalOf(v, scale int64) confDecimal {
	if v == 0 {
		return ""
	}
	return confDecimal(fraud.Decimal(v, scale))
}

type confDeck struct {
	ID               string `yaml:"id"`
	Counterparty     string `yaml:"counterparty"` // member:ID or peer:ID (a bare ID of a member or peer in the file)
	Direction        string `yaml:"direction"`    // sell or buy
	Currency         string `yaml:"currency"`
	Decimals         *int32 `yaml:"decimals,omitempty"`          // default 4
	Rounding         string `yaml:"rounding,omitempty"`          // default half-up
	DurationRounding string `yaml:"duration_rounding,omitempty"` // default up
	// Versions inline, and/or CSV: a deck CSV as `ospnode rate import`
	// reads it (its effective_from column makes the versions).
	Versions []confVersion `yaml:"versions,omitempty"`
	CSV      string        `yaml:"csv,omitempty"`
}

type confVersion struct {
	EffectiveFrom  string    `yaml:"effective_from"` // RFC 3339 or 2006-01-02 (UTC)
	EffectiveUntil string    `yaml:"effective_until,omitempty"`
	Rows           []confRow `yaml:"rows"`
}

type confRow struct {
	Prefix         string `yaml:"prefix"`
	Description    string `yaml:"description,omitempty"`
	Rate           string `yaml:"rate"` // per minute, in the deck's currency
	ConnectFee     string `yaml:"connect_fee,omitempty"`
	FirstIncrement int    `yaml:"first_increment"`
	NextIncrement  int    `yaml:"next_increment"`
}

type confMember struct {
	ID               string   `yaml:"id"`
	Name             string   `yaml:"name,omitempty"`
	Status           string   `yaml:"status,omitempty"` // active (default) or suspended
	SourceAddrs      []string `yaml:"source_addrs,omitempty"`
	DeviceIDs        []string `yaml:"device_ids,omitempty"`
	CustomerIDs      []string `yaml:"customer_ids,omitempty"`
	CertSubjects     []string `yaml:"cert_subjects,omitempty"`
	CertFingerprints []string `yaml:"cert_fingerprints,omitempty"`
	CreditLimit      string   `yaml:"credit_limit,omitempty"` // "500 USD"; none: no credit check
	CPSLimit         int      `yaml:"cps_limit,omitempty"`
	ConcurrentLimit  int      `yaml:"concurrent_limit,omitempty"`
	TokenKind        string   `yaml:"token_kind,omitempty"` // signed, text or xml
	SharedToken      bool     `yaml:"shared_token,omitempty"`
	// IdentifyByIDs: device_ids/customer_ids alone identify it, from any
	// address (self-declared, spoofable: the node warns).
	IdentifyByIDs bool `yaml:"identify_by_ids,omitempty"`
	// SignalAddressPort: offer destinations as [ip]:port (default: [ip]
	// for port 5060, what the Kamailio/OpenSIPS osp module needs).
	SignalAddressPort bool             `yaml:"signal_address_port,omitempty"`
	SellDeck          string           `yaml:"sell_deck,omitempty"`
	BuyDeck           string           `yaml:"buy_deck,omitempty"`
	BlockedPrefixes   []string         `yaml:"blocked_prefixes,omitempty"`
	confBilling       `yaml:",inline"` // payment_terms_days overrides the network's
}

type confTrunk struct {
	ID       string `yaml:"id"`
	Member   string `yaml:"member"`
	Address  string `yaml:"address"`
	Protocol string `yaml:"protocol,omitempty"`
	Weight   int    `yaml:"weight,omitempty"`
	Priority int    `yaml:"priority,omitempty"`
	Capacity int    `yaml:"capacity,omitempty"`
}

type confPeer struct {
	ID              string             `yaml:"id"`
	Name            string             `yaml:"name,omitempty"`
	Status          string             `yaml:"status,omitempty"` // active (default) or disabled
	ServicePoints   []confServicePoint `yaml:"service_points"`
	TrustedCAs      []string           `yaml:"trusted_cas,omitempty"`      // PEM, inline
	TrustedCAFiles  []string           `yaml:"trusted_ca_files,omitempty"` // PEM files
	ClientCert      string             `yaml:"client_cert,omitempty"`
	ClientKey       string             `yaml:"client_key,omitempty"`
	OurMemberID     string             `yaml:"our_member_id,omitempty"`
	BuyDeck         string             `yaml:"buy_deck,omitempty"`
	CPSLimit        int                `yaml:"cps_limit,omitempty"`
	ConcurrentLimit int                `yaml:"concurrent_limit,omitempty"`
	confBilling     `yaml:",inline"`   // payment_terms_days overrides the network's
}

type confServicePoint struct {
	URL    string `yaml:"url"`
	Weight int    `yaml:"weight,omitempty"`
}

type confRoute struct {
	Prefix     string          `yaml:"prefix"`
	Blocked    bool            `yaml:"blocked,omitempty"`
	Candidates []confCandidate `yaml:"candidates,omitempty"`
	Quality    *confQuality    `yaml:"quality,omitempty"`
}

// confQuality is a route's quality policy (ledger.RouteQuality):
// percentages as numbers (30 is 30 %, 12.5 is 12.5 %, at most two
// decimals: the ledger keeps basis points), delays as Go durations ("3s").
// The percentages are kept as the file's text and converted exactly
// (parseBps), never through a float.
type confQuality struct {
	MinSamples int     `yaml:"min_samples,omitempty"`
	MinASR     confPct `yaml:"min_asr,omitempty"`
	RecoverASR confPct `yaml:"recover_asr,omitempty"`
	MinNER     confPct `yaml:"min_ner,omitempty"`
	RecoverNER confPct `yaml:"recover_ner,omitempty"`
	MaxPDD     string  `yaml:"max_pdd,omitempty"`
	RecoverPDD string  `yaml:"recover_pdd,omitempty"`
	Exclude    bool    `yaml:"exclude,omitempty"`
	Probe      confPct `yaml:"probe,omitempty"`
	WeightCost bool    `yaml:"weight_cost,omitempty"` // rank by rate ÷ ASR
}

// confPct is a percentage as written in the network file ("30", "12.5").
type confPct string

// UnmarshalYAML keeps a scalar's text as written.
func (p *confPct) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a percentage such as 30 or 12.5", n.Line)
	}
	*p = confPct(n.Value)
	return nil
}

// parseBps converts a decimal percentage ("30", "12.5", "0.25", "-1") to
// basis points exactly, from its text: at most two decimals, no exponent.
// An empty text is 0. Range is left to the thresholds' validation.
func parseBps(name, s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	bad := func(why string) (int, error) {
		return 0, fmt.Errorf("%s %q: want a percentage such as 30 or 12.5%s", name, s, why)
	}
	t, neg := s, false
	if rest, ok := strings.CutPrefix(t, "-"); ok {
		t, neg = rest, true
	} else {
		t = strings.TrimPrefix(t, "+")
	}
	whole, frac, hasDot := strings.Cut(t, ".")
	if len(frac) > 2 {
		return bad(" (at most 2 decimals: the ledger keeps basis points, 0.01 %)")
	}
	if (whole == "" && frac == "") || (hasDot && frac == "" && whole == "") || len(whole) > 6 {
		return bad("")
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return bad("")
		}
	}
	v := 0
	for _, r := range whole {
		v = v*10 + int(r-'0')
	}
	v *= 100
	for i, r := range frac {
		if i == 0 {
			v += 10 * int(r-'0')
		} else {
			v += int(r - '0')
		}
	}
	if neg {
		v = -v
	}
	return v, nil
}

// formatBps writes basis points as parseBps reads them: "30", "12.5",
// "0.25" (no trailing zeros).
func formatBps(v int) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := sign + strconv.Itoa(v/100)
	switch f := v % 100; {
	case f == 0:
	case f%10 == 0:
		s += "." + strconv.Itoa(f/10)
	default:
		s += fmt.Sprintf(".%02d", f)
	}
	return s
}

// ledger converts q, or says what is wrong with a percentage or a delay.
func (q *confQuality) ledger() (*ledger.RouteQuality, error) {
	lq := &ledger.RouteQuality{MinSamples: q.MinSamples, Exclude: q.Exclude, WeightCost: q.WeightCost}
	for _, p := range []struct {
		name string
		s    confPct
		bps  *int
	}{{"min_asr", q.MinASR, &lq.MinASRBps}, {"recover_asr", q.RecoverASR, &lq.RecoverASRBps},
		{"min_ner", q.MinNER, &lq.MinNERBps}, {"recover_ner", q.RecoverNER, &lq.RecoverNERBps}, {"probe", q.Probe, &lq.ProbeBps}} {
		v, err := parseBps(p.name, string(p.s))
		if err != nil {
			return nil, err
		}
		*p.bps = v
	}
	for _, d := range []struct {
		name string
		s    string
		ms   *int64
	}{{"max_pdd", q.MaxPDD, &lq.MaxPDDMillis}, {"recover_pdd", q.RecoverPDD, &lq.RecoverPDDMillis}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s %q: want a duration such as 3s or 2500ms", d.name, d.s)
		}
		*d.ms = v.Milliseconds()
	}
	return lq, nil
}

func confQualityOf(q *ledger.RouteQuality) *confQuality {
	if q == nil {
		return nil
	}
	pt := func(v int) confPct {
		if v == 0 {
			return ""
		}
		return confPct(formatBps(v))
	}
	cq := &confQuality{MinSamples: q.MinSamples, MinASR: pt(q.MinASRBps), RecoverASR: pt(q.RecoverASRBps), MinNER: pt(q.MinNERBps),
		RecoverNER: pt(q.RecoverNERBps), Exclude: q.Exclude, Probe: pt(q.ProbeBps), WeightCost: q.WeightCost}
	if q.MaxPDDMillis > 0 {
		cq.MaxPDD = (time.Duration(q.MaxPDDMillis) * time.Millisecond).String()
	}
	if q.RecoverPDDMillis > 0 {
		cq.RecoverPDD = (time.Duration(q.RecoverPDDMillis) * time.Millisecond).String()
	}
	return cq
}

type confCandidate struct {
	Kind      string `yaml:"kind"` // trunk or peer
	ID        string `yaml:"id"`
	Priority  int    `yaml:"priority,omitempty"`
	Weight    int    `yaml:"weight,omitempty"`
	Strip     int    `yaml:"strip,omitempty"`
	AddPrefix string `yaml:"add_prefix,omitempty"`
}

// fileProblems is a file that cannot become a configuration: every
// problem names the item and field.
type fileProblems struct {
	name     string
	problems []string
}

func (e *fileProblems) Error() string {
	return e.name + ": " + strings.Join(e.problems, "\n  ")
}

// readConfFile decodes a configuration file (dir resolves the relative
// paths of deck and route CSVs and CA files) into the admin API's
// document.
func readConfFile(name string, r io.Reader, dir string) (*node.NetworkConfig, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f confFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &fileProblems{name, []string{"the file is empty"}}
		}
		return nil, &fileProblems{name, []string{strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &fileProblems{name, []string{"more than one YAML document: give one"}}
	}
	return f.toConfig(name, dir)
}

func (f *confFile) toConfig(name, dir string) (*node.NetworkConfig, error) {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	path := func(p string) string {
		if filepath.IsAbs(p) || dir == "" {
			return p
		}
		return filepath.Join(dir, p)
	}
	cfg := &node.NetworkConfig{Decks: []ledger.DeckVersion{}, Members: []ledger.Member{}, Peers: []ledger.Peer{},
		Trunks: []ledger.Trunk{}, Routes: []ledger.Route{}}
	if n := f.Network; n != nil {
		cfg.Network = &ledger.Network{ID: n.ID, Name: n.Name, Currency: strings.ToUpper(n.Currency), TxIDEpoch: n.TxIDEpoch, TxIDNetwork: n.TxIDNetwork,
			BillingBasis: ledger.BillingBasis(n.BillingBasis), Fraud: n.Fraud.fraudSettings(bad), BillingIdentity: n.confBilling.ledger()}
	}
	members, peers := map[string]bool{}, map[string]bool{}
	for _, m := range f.Members {
		members[m.ID] = true
	}
	for _, p := range f.Peers {
		peers[p.ID] = true
	}
	for i, d := range f.Decks {
		item := fmt.Sprintf("deck %s", d.ID)
		if d.ID == "" {
			item = fmt.Sprintf("deck #%d", i+1)
		}
		cp := d.Counterparty
		if cp != "" && !strings.HasPrefix(cp, "member:") && !strings.HasPrefix(cp, "peer:") {
			switch {
			case members[cp]:
				cp = ledger.MemberAccount(cp)
			case peers[cp]:
				cp = ledger.PeerAccount(cp)
			default:
				bad("%s: counterparty %q: want member:ID or peer:ID (or the id of a member or peer in this file)", item, cp)
			}
		}
		dv := ledger.DeckVersion{DeckID: d.ID, Counterparty: cp, Direction: d.Direction, Currency: strings.ToUpper(d.Currency),
			Decimals: 4, RoundingMode: d.Rounding, DurationRounding: d.DurationRounding}
		if d.Decimals != nil {
			dv.Decimals = *d.Decimals
		}
		if dv.RoundingMode == "" {
			dv.RoundingMode = money.HalfUp
		}
		if len(d.Versions) == 0 && d.CSV == "" {
			bad("%s: versions or csv: give the deck's rows", item)
		}
		for j, v := range d.Versions {
			vi := fmt.Sprintf("%s version %d", item, j+1)
			lv := dv
			var err error
			if lv.EffectiveFrom, err = parseConfTime(v.EffectiveFrom); err != nil || v.EffectiveFrom == "" {
				bad("%s: effective_from %q: want an RFC 3339 time or a date 2006-01-02", vi, v.EffectiveFrom)
			}
			if v.EffectiveUntil != "" {
				if lv.EffectiveUntil, err = parseConfTime(v.EffectiveUntil); err != nil {
					bad("%s: effective_until %q: want an RFC 3339 time or a date 2006-01-02", vi, v.EffectiveUntil)
				}
			}
			for k, r := range v.Rows {
				ri := fmt.Sprintf("%s row %d (prefix %q)", vi, k+1, r.Prefix)
				row := ledger.DeckRow{Prefix: strings.TrimPrefix(r.Prefix, "+"), Description: r.Description,
					FirstIncrement: r.FirstIncrement, NextIncrement: r.NextIncrement}
				if row.Rate, err = money.New(strings.TrimSpace(r.Rate), dv.Currency); err != nil {
					bad("%s: rate %q: want a decimal amount in %s", ri, r.Rate, dv.Currency)
				}
				if fee := strings.TrimSpace(r.ConnectFee); fee != "" {
					if row.ConnectFee, err = money.New(fee, dv.Currency); err != nil {
						bad("%s: connect_fee %q: want a decimal amount in %s", ri, r.ConnectFee, dv.Currency)
					}
				}
				lv.Rows = append(lv.Rows, row)
			}
			cfg.Decks = append(cfg.Decks, lv)
		}
		if d.CSV != "" {
			vs, err := readDeckFile(path(d.CSV), dv)
			if err != nil {
				bad("%s: csv %s: %v", item, d.CSV, err)
			}
			cfg.Decks = append(cfg.Decks, vs...)
		}
	}
	for i, m := range f.Members {
		item := fmt.Sprintf("member %s", m.ID)
		if m.ID == "" {
			item = fmt.Sprintf("member #%d", i+1)
		}
		lm := ledger.Member{ID: m.ID, Name: m.Name, Status: ledger.MemberStatus(m.Status),
			Credentials: ledger.Credentials{SourceAddrs: m.SourceAddrs, DeviceIDs: m.DeviceIDs, CustomerIDs: m.CustomerIDs,
				CertSubjects: m.CertSubjects, CertFingerprints: m.CertFingerprints, IdentifyByIDs: m.IdentifyByIDs},
			CPSLimit: m.CPSLimit, ConcurrentLimit: m.ConcurrentLimit, TokenKind: m.TokenKind, SharedToken: m.SharedToken,
			SellDeckID: m.SellDeck, BuyDeckID: m.BuyDeck, BlockedPrefixes: m.BlockedPrefixes, SignalAddressPort: m.SignalAddressPort,
			BillingIdentity: m.confBilling.ledger()}
		if s := strings.TrimSpace(m.CreditLimit); s != "" {
			if err := lm.CreditLimit.UnmarshalText([]byte(s)); err != nil {
				bad("%s: credit_limit %q: want an amount and a currency, e.g. \"500 USD\"", item, m.CreditLimit)
			}
		}
		cfg.Members = append(cfg.Members, lm)
	}
	for i, p := range f.Peers {
		item := fmt.Sprintf("peer %s", p.ID)
		if p.ID == "" {
			item = fmt.Sprintf("peer #%d", i+1)
		}
		lp := ledger.Peer{ID: p.ID, Name: p.Name, Status: ledger.PeerStatus(p.Status), TrustedCAs: p.TrustedCAs,
			ClientCertRef: p.ClientCert, ClientKeyRef: p.ClientKey, OurMemberID: p.OurMemberID, BuyDeckID: p.BuyDeck,
			CPSLimit: p.CPSLimit, ConcurrentLimit: p.ConcurrentLimit, BillingIdentity: p.confBilling.ledger()}
		for _, sp := range p.ServicePoints {
			lp.ServicePoints = append(lp.ServicePoints, ledger.ServicePoint{URL: sp.URL, Weight: sp.Weight})
		}
		for _, fn := range p.TrustedCAFiles {
			b, err := os.ReadFile(path(fn))
			if err != nil {
				bad("%s: trusted_ca_files: %v", item, err)
				continue
			}
			lp.TrustedCAs = append(lp.TrustedCAs, string(b))
		}
		cfg.Peers = append(cfg.Peers, lp)
	}
	for _, t := range f.Trunks {
		cfg.Trunks = append(cfg.Trunks, ledger.Trunk{ID: t.ID, MemberID: t.Member, Address: t.Address, Protocol: t.Protocol,
			Weight: t.Weight, Priority: t.Priority, Capacity: t.Capacity})
	}
	for _, r := range f.Routes {
		lr := ledger.Route{Prefix: strings.TrimPrefix(r.Prefix, "+"), Blocked: r.Blocked}
		if r.Quality != nil {
			q, err := r.Quality.ledger()
			if err != nil {
				bad("route %q: quality: %v", r.Prefix, err)
			}
			lr.Quality = q
		}
		for _, c := range r.Candidates {
			lr.Candidates = append(lr.Candidates, ledger.RouteCandidate{Kind: c.Kind, ID: c.ID, Priority: c.Priority,
				Weight: c.Weight, Strip: c.Strip, AddPrefix: c.AddPrefix})
		}
		cfg.Routes = append(cfg.Routes, lr)
	}
	for _, fn := range f.RouteFiles {
		fh, err := os.Open(path(fn))
		if err != nil {
			bad("route_files: %v", err)
			continue
		}
		rs, _, err := node.ParseRouteCSV(fh)
		fh.Close()
		if err != nil {
			bad("route_files %s: %v", fn, err)
			continue
		}
		cfg.Routes = append(cfg.Routes, rs...)
	}
	if len(probs) > 0 {
		return nil, &fileProblems{name, probs}
	}
	return cfg, nil
}

// readDeckFile reads a deck CSV as `ospnode rate import` does, with the
// deck's settings from the file.
func readDeckFile(name string, header ledger.DeckVersion) ([]ledger.DeckVersion, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	dir := settlement.Sell
	if header.Direction == ledger.DirectionBuy {
		dir = settlement.Buy
	}
	var dm settlement.DurationMode
	if header.DurationRounding != "" {
		if dm, err = settlement.ParseDurationMode(header.DurationRounding); err != nil {
			return nil, err
		}
	}
	deck, err := settlement.ReadDeckCSV(fh, settlement.DeckOptions{Counterparty: header.Counterparty, Direction: dir,
		Currency: header.Currency, Decimals: header.Decimals, Rounding: header.RoundingMode, DurationRounding: dm})
	if err != nil {
		return nil, err
	}
	var out []ledger.DeckVersion
	for _, v := range deck.Versions {
		lv := header
		lv.EffectiveFrom, lv.EffectiveUntil = v.EffectiveFrom.UTC(), v.EffectiveUntil
		for _, r := range v.Rows {
			lv.Rows = append(lv.Rows, ledger.DeckRow{Prefix: r.Prefix, Description: r.Description, Rate: r.Rate,
				ConnectFee: r.ConnectFee, FirstIncrement: int(r.FirstIncrement), NextIncrement: int(r.NextIncrement)})
		}
		out = append(out, lv)
	}
	return out, nil
}

func parseConfTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse("2006-01-02", s)
}

// confFromConfig is the file form of a running configuration (export).
func confFromConfig(cfg *node.NetworkConfig) *confFile {
	f := &confFile{}
	if n := cfg.Network; n != nil {
		f.Network = &confNetwork{ID: n.ID, Name: n.Name, Currency: n.Currency, TxIDEpoch: n.TxIDEpoch, TxIDNetwork: n.TxIDNetwork, BillingBasis: string(n.BillingBasis),
			Fraud: confFraudFrom(n.Fraud), confBilling: confBillingOf(n.BillingIdentity)}
	}
	byID := map[string]*confDeck{}
	for _, v := range cfg.Decks {
		d := byID[v.DeckID]
		if d == nil {
			dec := v.Decimals
			f.Decks = append(f.Decks, confDeck{ID: v.DeckID, Counterparty: v.Counterparty, Direction: v.Direction,
				Currency: v.Currency, Decimals: &dec, Rounding: v.RoundingMode, DurationRounding: v.DurationRounding})
			d = &f.Decks[len(f.Decks)-1]
			byID[v.DeckID] = d
		}
		cv := confVersion{EffectiveFrom: v.EffectiveFrom.UTC().Format(time.RFC3339Nano), Rows: []confRow{}}
		if !v.EffectiveUntil.IsZero() {
			cv.EffectiveUntil = v.EffectiveUntil.UTC().Format(time.RFC3339Nano)
		}
		for _, r := range v.Rows {
			cr := confRow{Prefix: r.Prefix, Description: r.Description, Rate: r.Rate.Text(),
				FirstIncrement: r.FirstIncrement, NextIncrement: r.NextIncrement}
			if r.ConnectFee.Currency() != "" { // omitted: no fee (and no currency)
				cr.ConnectFee = r.ConnectFee.Text()
			}
			cv.Rows = append(cv.Rows, cr)
		}
		d.Versions = append(d.Versions, cv)
	}
	for _, m := range cfg.Members {
		cm := confMember{ID: m.ID, Name: m.Name, Status: string(m.Status), SourceAddrs: m.Credentials.SourceAddrs,
			DeviceIDs: m.Credentials.DeviceIDs, CustomerIDs: m.Credentials.CustomerIDs, CertSubjects: m.Credentials.CertSubjects,
			CertFingerprints: m.Credentials.CertFingerprints, CPSLimit: m.CPSLimit, ConcurrentLimit: m.ConcurrentLimit,
			TokenKind: m.TokenKind, SharedToken: m.SharedToken, SellDeck: m.SellDeckID, BuyDeck: m.BuyDeckID, BlockedPrefixes: m.BlockedPrefixes,
			IdentifyByIDs: m.Credentials.IdentifyByIDs, SignalAddressPort: m.SignalAddressPort, confBilling: confBillingOf(m.BillingIdentity)}
		if m.CreditLimit.Currency() != "" {
			cm.CreditLimit = m.CreditLimit.String()
		}
		f.Members = append(f.Members, cm)
	}
	for _, p := range cfg.Peers {
		cp := confPeer{ID: p.ID, Name: p.Name, Status: string(p.Status), TrustedCAs: p.TrustedCAs, ClientCert: p.ClientCertRef,
			ClientKey: p.ClientKeyRef, OurMemberID: p.OurMemberID, BuyDeck: p.BuyDeckID, CPSLimit: p.CPSLimit, ConcurrentLimit: p.ConcurrentLimit,
			confBilling: confBillingOf(p.BillingIdentity)}
		for _, sp := range p.ServicePoints {
			cp.ServicePoints = append(cp.ServicePoints, confServicePoint{URL: sp.URL, Weight: sp.Weight})
		}
		f.Peers = append(f.Peers, cp)
	}
	for _, t := range cfg.Trunks {
		f.Trunks = append(f.Trunks, confTrunk{ID: t.ID, Member: t.MemberID, Address: t.Address, Protocol: t.Protocol,
			Weight: t.Weight, Priority: t.Priority, Capacity: t.Capacity})
	}
	routes := append([]ledger.Route(nil), cfg.Routes...)
	sort.Slice(routes, func(i, j int) bool { return routes[i].Prefix < routes[j].Prefix })
	for _, r := range routes {
		cr := confRoute{Prefix: r.Prefix, Blocked: r.Blocked, Quality: confQualityOf(r.Quality)}
		for _, c := range r.Candidates {
			cr.Candidates = append(cr.Candidates, confCandidate{Kind: c.Kind, ID: c.ID, Priority: c.Priority, Weight: c.Weight,
				Strip: c.Strip, AddPrefix: c.AddPrefix})
		}
		f.Routes = append(f.Routes, cr)
	}
	return f
}

// confHeader opens an exported file.
const confHeader = "# ospnode network configuration: `ospnode apply -f FILE [--dry-run] [--prune]`\n" +
	"# (format: docs/examples/network.yaml). Written by `ospnode export`.\n"

// writeConfFile writes f as YAML: deck rows, trunks and routes one per
// line (flow style), everything else in block style. Decks, trunks and
// routes are written by hand: yaml.v3's encoder takes minutes over
// 500,000 routes, this takes under a second; the small sections (network,
// members, peers: free text, PEM blocks) go through the encoder.
func writeConfFile(w io.Writer, f *confFile) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(confHeader)
	if err := encodeYAML(bw, struct {
		Network *confNetwork `yaml:"network,omitempty"`
	}{f.Network}); err != nil {
		return err
	}
	if len(f.Decks) > 0 {
		bw.WriteString("decks:\n")
	}
	for _, d := range f.Decks {
		fmt.Fprintf(bw, "  - id: %s\n    counterparty: %s\n    direction: %s\n    currency: %s\n",
			yscalar(d.ID), yscalar(d.Counterparty), yscalar(d.Direction), yscalar(d.Currency))
		if d.Decimals != nil {
			fmt.Fprintf(bw, "    decimals: %d\n", *d.Decimals)
		}
		if d.Rounding != "" {
			fmt.Fprintf(bw, "    rounding: %s\n", yscalar(d.Rounding))
		}
		if d.DurationRounding != "" {
			fmt.Fprintf(bw, "    duration_rounding: %s\n", yscalar(d.DurationRounding))
		}
		bw.WriteString("    versions:\n")
		for _, v := range d.Versions {
			fmt.Fprintf(bw, "      - effective_from: %s\n", yscalar(v.EffectiveFrom))
			if v.EffectiveUntil != "" {
				fmt.Fprintf(bw, "        effective_until: %s\n", yscalar(v.EffectiveUntil))
			}
			if len(v.Rows) == 0 {
				bw.WriteString("        rows: []\n")
				continue
			}
			bw.WriteString("        rows:\n")
			for _, r := range v.Rows {
				fmt.Fprintf(bw, "          - {prefix: %s", yquote(r.Prefix))
				if r.Description != "" {
					fmt.Fprintf(bw, ", description: %s", yscalar(r.Description))
				}
				fmt.Fprintf(bw, ", rate: %s", yquote(r.Rate))
				if r.ConnectFee != "" {
					fmt.Fprintf(bw, ", connect_fee: %s", yquote(r.ConnectFee))
				}
				fmt.Fprintf(bw, ", first_increment: %d, next_increment: %d}\n", r.FirstIncrement, r.NextIncrement)
			}
		}
	}
	if err := encodeYAML(bw, struct {
		Members []confMember `yaml:"members,omitempty"`
		Peers   []confPeer   `yaml:"peers,omitempty"`
	}{f.Members, f.Peers}); err != nil {
		return err
	}
	if len(f.Trunks) > 0 {
		bw.WriteString("trunks:\n")
	}
	for _, t := range f.Trunks {
		fmt.Fprintf(bw, "  - {id: %s, member: %s, address: %s", yscalar(t.ID), yscalar(t.Member), yscalar(t.Address))
		if t.Protocol != "" {
			fmt.Fprintf(bw, ", protocol: %s", yscalar(t.Protocol))
		}
		for _, kv := range []struct {
			k string
			v int
		}{{"weight", t.Weight}, {"priority", t.Priority}, {"capacity", t.Capacity}} {
			if kv.v != 0 {
				fmt.Fprintf(bw, ", %s: %d", kv.k, kv.v)
			}
		}
		bw.WriteString("}\n")
	}
	if len(f.Routes) > 0 {
		bw.WriteString("routes:\n")
	}
	for _, r := range f.Routes {
		fmt.Fprintf(bw, "  - {prefix: %s", yquote(r.Prefix))
		if r.Blocked {
			bw.WriteString(", blocked: true")
		}
		if len(r.Candidates) > 0 {
			bw.WriteString(", candidates: [")
			for i, c := range r.Candidates {
				if i > 0 {
					bw.WriteString(", ")
				}
				fmt.Fprintf(bw, "{kind: %s, id: %s", yscalar(c.Kind), yscalar(c.ID))
				for _, kv := range []struct {
					k string
					v int
				}{{"priority", c.Priority}, {"weight", c.Weight}, {"strip", c.Strip}} {
					if kv.v != 0 {
						fmt.Fprintf(bw, ", %s: %d", kv.k, kv.v)
					}
				}
				if c.AddPrefix != "" {
					fmt.Fprintf(bw, ", add_prefix: %s", yquote(c.AddPrefix))
				}
				bw.WriteString("}")
			}
			bw.WriteString("]")
		}
		if q := r.Quality; q != nil {
			writeQuality(bw, q)
		}
		bw.WriteString("}\n")
	}
	if len(f.RouteFiles) > 0 {
		bw.WriteString("route_files:\n")
		for _, rf := range f.RouteFiles {
			fmt.Fprintf(bw, "  - %s\n", yscalar(rf))
		}
	}
	return bw.Flush()
}

// writeQuality writes a route's quality policy in flow style.
func writeQuality(bw *bufio.Writer, q *confQuality) {
	var parts []string
	if q.MinSamples != 0 {
		parts = append(parts, fmt.Sprintf("min_samples: %d", q.MinSamples))
	}
	for _, kv := range []struct {
		k string
		v confPct
	}{{"min_asr", q.MinASR}, {"recover_asr", q.RecoverASR}, {"min_ner", q.MinNER}, {"recover_ner", q.RecoverNER}} {
		if kv.v != "" {
			parts = append(parts, fmt.Sprintf("%s: %s", kv.k, kv.v))
		}
	}
	for _, kv := range []struct{ k, v string }{{"max_pdd", q.MaxPDD}, {"recover_pdd", q.RecoverPDD}} {
		if kv.v != "" {
			parts = append(parts, fmt.Sprintf("%s: %s", kv.k, yscalar(kv.v)))
		}
	}
	if q.Exclude {
		parts = append(parts, "exclude: true")
	}
	if q.Probe != "" {
		parts = append(parts, "probe: "+string(q.Probe))
	}
	if q.WeightCost {
		parts = append(parts, "weight_cost: true")
	}
	fmt.Fprintf(bw, ", quality: {%s}", strings.Join(parts, ", "))
}

// encodeYAML writes v in block style with 2-space indents (nothing for an
// empty struct).
func encodeYAML(w io.Writer, v any) error {
	var doc yaml.Node
	if err := doc.Encode(v); err != nil {
		return err
	}
	flowItems(&doc, map[string]bool{"service_points": true},
		map[string]bool{"source_addrs": true, "device_ids": true, "customer_ids": true, "cert_subjects": true,
			"cert_fingerprints": true, "blocked_prefixes": true})
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if strings.TrimSpace(buf.String()) == "{}" {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// flowItems sets flow style on the items of every sequence under one of
// items (one record per line) and on the sequences under one of seqs (a
// short list on one line).
func flowItems(n *yaml.Node, items, seqs map[string]bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch {
			case v.Kind != yaml.SequenceNode:
			case items[k.Value]:
				for _, item := range v.Content {
					item.Style = yaml.FlowStyle
				}
				continue
			case seqs[k.Value]:
				v.Style = yaml.FlowStyle
				continue
			}
			flowItems(v, items, seqs)
		}
		return
	}
	for _, c := range n.Content {
		flowItems(c, items, seqs)
	}
}

// yscalar writes s as a YAML scalar that reads back as the string s, in a
// flow or block context: plain when that is unambiguous, else
// double-quoted (a JSON string is a valid YAML double-quoted scalar).
func yscalar(s string) string {
	if plainSafe(s) {
		return s
	}
	return yquote(s)
}

func yquote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// plainSafe: letters first, then letters, digits, inner single spaces and
// - _ . / @ : (no ": "), and not a word YAML 1.1 reads as a bool or null.
func plainSafe(s string) bool {
	if s == "" || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i == 0:
			return false
		case c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '/', c == '@':
		case c == ' ':
			if s[i-1] == ' ' || s[i-1] == ':' {
				return false
			}
		case c == ':':
			if s[i+1] == ' ' {
				return false
			}
		default:
			return false
		}
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null":
		return false
	}
	return true
}
