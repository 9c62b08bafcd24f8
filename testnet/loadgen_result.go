package testnet

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// LoadResult is the outcome of RunLoad. Rates are per second of Elapsed
// (from the first call to the end of the last one). It is a plain value.
type LoadResult struct {
	Mode        string   `json:"mode"` // "open" or "closed"
	Rate        float64  `json:"targetRate,omitempty"`
	Concurrency int      `json:"concurrency"`
	URLs        []string `json:"urls"`
	Seed        uint64   `json:"seed"`

	Elapsed time.Duration `json:"elapsedNs"`
	// Calls counts calls started; each ends as exactly one of Completed
	// (authorised, token accepted, both usages confirmed), FailedAttempts
	// (a failed attempt, or a refused token, reported and confirmed) or
	// CallErrors (some message was not answered with a 2xx).
	Calls          uint64 `json:"calls"`
	Completed      uint64 `json:"completed"`
	FailedAttempts uint64 `json:"failedAttempts"`
	CallErrors     uint64 `json:"callErrors"`
	// TerminatedElsewhere counts calls (among CallErrors) whose token named
	// another network's transaction while no destination URLs were given:
	// their destination usage was not sent (see LoadOptions.DestURLs).
	TerminatedElsewhere uint64 `json:"terminatedElsewhere,omitempty"`
	// DestURLs are the terminating network's service points, if given.
	DestURLs []string `json:"destUrls,omitempty"`

	CallsPerSecond    float64 `json:"completedCallsPerSecond"`
	Messages          uint64  `json:"messages"`
	MessagesPerSecond float64 `json:"messagesPerSecond"`
	// ScheduleLag is the largest delay of an open-loop call start behind
	// its schedule (the generator itself falling behind).
	ScheduleLag time.Duration `json:"scheduleLagNs,omitempty"`

	// Messages by type: MsgAuthorization, MsgUsageSource, MsgUsageDestination.
	Types []MessageResult `json:"types"`
	// Destinations counts calls by the destination offered first (its IP),
	// and how they ended: where routing sent the traffic.
	Destinations []DestinationResult `json:"destinations,omitempty"`

	TokensChecked        bool              `json:"tokensChecked"`
	TokenChecks          uint64            `json:"tokenChecks"`
	TokenFailures        uint64            `json:"tokenFailures"`
	TokenFailuresByCheck map[string]uint64 `json:"tokenFailuresByCheck,omitempty"`

	// CPU is this process's user+system time during the run (getrusage);
	// CPUPercent is it as a share of one core over Elapsed. In a test that
	// runs the server in the same process it includes the server.
	CPUUser    time.Duration `json:"cpuUserNs"`
	CPUSys     time.Duration `json:"cpuSysNs"`
	CPUPercent float64       `json:"cpuPercentOfOneCore"`

	// Confirmed lists every usage a server confirmed (2xx), in completion
	// order. Left out of the JSON form, which carries the count.
	Confirmed      []ConfirmedUsage `json:"-"`
	ConfirmedCount int              `json:"confirmedUsages"`
	// Verified is true when LoadOptions.Verify ran and passed;
	// VerifyError holds its error otherwise.
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verifyError,omitempty"`
}

// MessageResult is the summary of one message type.
type MessageResult struct {
	Type string `json:"type"`
	Sent uint64 `json:"sent"`
	OK   uint64 `json:"ok"`
	// Status counts answers with a non-2xx OSP status, by code.
	Status map[int]uint64 `json:"status,omitempty"`
	// Transport counts requests with no usable answer, by class
	// ("timeout", "connection refused", "http 500 …", "bad response", …).
	Transport map[string]uint64 `json:"transport,omitempty"`
	Latency   LatencySummary    `json:"latency"`
}

// LatencySummary holds latency quantiles (nanoseconds in JSON).
type LatencySummary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"meanNs"`
	P50   time.Duration `json:"p50Ns"`
	P95   time.Duration `json:"p95Ns"`
	P99   time.Duration `json:"p99Ns"`
	Max   time.Duration `json:"maxNs"`
}

// Summarize returns the quantiles of h.
func (h *Histogram) Summarize() LatencySummary {
	return LatencySummary{Count: h.Count(), Mean: h.Mean(), P50: h.Quantile(0.50),
		P95: h.Quantile(0.95), P99: h.Quantile(0.99), Max: h.Max()}
}

func (r *loadRun) result(elapsed time.Duration, cpu cpuTimes) *LoadResult {
	o := &r.opts
	res := &LoadResult{
		Mode: "closed", Concurrency: o.Concurrency, URLs: o.URLs, Seed: o.Seed,
		Elapsed: elapsed, Calls: r.started.Load(), Completed: r.completed.Load(),
		FailedAttempts: r.failedAttempts.Load(), CallErrors: r.callErrors.Load(),
		TerminatedElsewhere: r.elsewhere.Load(), DestURLs: o.DestURLs,
		ScheduleLag:   time.Duration(r.scheduleLag.Load()),
		TokensChecked: o.TokenRoots != nil || o.AcceptUnsigned,
		TokenChecks:   r.tokenChecked.Load(), TokenFailures: r.tokenFailed.Load(),
		CPUUser: cpu.user, CPUSys: cpu.sys,
	}
	if o.Rate > 0 {
		res.Mode, res.Rate = "open", o.Rate
	}
	for _, m := range r.msgs {
		m.mu.Lock()
		mr := MessageResult{Type: m.name, Sent: m.sent.Load(), OK: m.ok.Load(),
			Status: maps.Clone(m.status), Transport: maps.Clone(m.transport), Latency: m.latency.Summarize()}
		m.mu.Unlock()
		res.Messages += mr.Sent
		res.Types = append(res.Types, mr)
	}
	r.mu.Lock()
	res.Confirmed = slices.Clone(r.confirmed)
	if len(r.tokenByCheck) > 0 {
		res.TokenFailuresByCheck = maps.Clone(r.tokenByCheck)
	}
	r.mu.Unlock()
	res.ConfirmedCount = len(res.Confirmed)
	res.Destinations = r.destinations()
	if s := elapsed.Seconds(); s > 0 {
		res.CallsPerSecond = float64(res.Completed) / s
		res.MessagesPerSecond = float64(res.Messages) / s
		res.CPUPercent = 100 * (cpu.user + cpu.sys).Seconds() / s
	}
	return res
}

// WriteJSON writes r as one indented JSON object.
func (r *LoadResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the human summary. Its last line is always
// "completed calls/s: N" with one decimal, for scripts that read only that.
func (r *LoadResult) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := fmt.Sprintf("closed loop, concurrency %d", r.Concurrency)
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop, target %.1f calls/s (in-flight cap %d)", r.Rate, r.Concurrency)
	}
	fmt.Fprintf(&b, "ospnode bench: %s, %s, %d service point(s), seed %d\n", mode, r.Elapsed.Round(time.Millisecond), len(r.URLs), r.Seed)
	if len(r.DestURLs) > 0 {
		fmt.Fprintf(&b, "destination usage to the terminating network: %s\n", strings.Join(r.DestURLs, ", "))
	}
	fmt.Fprintf(&b, "calls: %d started, %d completed, %d failed attempts, %d errors\n", r.Calls, r.Completed, r.FailedAttempts, r.CallErrors)
	if r.TerminatedElsewhere > 0 {
		fmt.Fprintf(&b, "calls terminated in another network, destination usage NOT SENT (give --dest-url): %d\n", r.TerminatedElsewhere)
	}
	fmt.Fprintf(&b, "messages: %d (%.1f/s)\n", r.Messages, r.MessagesPerSecond)
	if r.ScheduleLag > 0 {
		fmt.Fprintf(&b, "schedule lag (max): %s\n", fmtDur(r.ScheduleLag))
	}
	fmt.Fprintf(&b, "\n%-28s %8s %8s %9s %9s %9s %9s\n", "latency", "sent", "ok", "p50", "p95", "p99", "max")
	for _, t := range r.Types {
		l := t.Latency
		fmt.Fprintf(&b, "%-28s %8d %8d %9s %9s %9s %9s\n", t.Type, t.Sent, t.OK, fmtDur(l.P50), fmtDur(l.P95), fmtDur(l.P99), fmtDur(l.Max))
	}
	var errs []string
	for _, t := range r.Types {
		for _, code := range slices.Sorted(maps.Keys(t.Status)) {
			errs = append(errs, fmt.Sprintf("  %s: OSP status %d (%s): %d", t.Type, code, statusName(code), t.Status[code]))
		}
		for _, class := range slices.Sorted(maps.Keys(t.Transport)) {
			errs = append(errs, fmt.Sprintf("  %s: %s: %d", t.Type, class, t.Transport[class]))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nerrors:\n" + strings.Join(errs, "\n") + "\n")
	}
	b.WriteString("\n")
	if r.TokensChecked {
		fmt.Fprintf(&b, "tokens: %d checked, %d failed validation", r.TokenChecks, r.TokenFailures)
	} else {
		fmt.Fprintf(&b, "tokens: not validated (no --token-ca), %d unparsable", r.TokenFailures)
	}
	for _, k := range slices.Sorted(maps.Keys(r.TokenFailuresByCheck)) {
		fmt.Fprintf(&b, " [%s %d]", k, r.TokenFailuresByCheck[k])
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "confirmed usages: %d", r.ConfirmedCount)
	switch {
	case r.Verified:
		b.WriteString(", verified in the ledger")
	case r.VerifyError != "":
		b.WriteString(", VERIFICATION FAILED: " + r.VerifyError)
	}
	b.WriteString("\n")
	for _, d := range r.Destinations {
		fmt.Fprintf(&b, "first destination %s: %d calls, %d answered, %d failed attempts\n", d.Address, d.Offered, d.Answered, d.Failed)
	}
	fmt.Fprintf(&b, "client cpu: %.2fs user + %.2fs sys = %.1f%% of one core\n", r.CPUUser.Seconds(), r.CPUSys.Seconds(), r.CPUPercent)
	fmt.Fprintf(&b, "completed calls/s: %.1f\n", r.CallsPerSecond)
	_, err := io.WriteString(w, b.String())
	return err
}

func statusName(code int) string {
	if s := osp.StatusText(code); s != "" {
		return s
	}
	return "unknown"
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
