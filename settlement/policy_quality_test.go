package settlement

import (
	"fmt"
	"testing"
	"time"

	"github.com/ospnode/ospnode/settlement/quality"
)

// TestRankQuality: route quality's verdicts order before priority and
// cost: a probed candidate first, the healthy ones, then the demoted ones
// (still by priority and cost among themselves); an excluded candidate is
// dropped unless it is probed — or unless every usable candidate is
// excluded, when they are all offered, demoted. Cost rules still apply to
// a demoted candidate.
func TestRankQuality(t *testing.T) {
	p := mustPolicy(t, "0.10")
	sell := usd("0.10")
	c := func(id string, prio int, cost string, v quality.Verdict) Candidate {
		return Candidate{ID: id, RoutePriority: prio, BuyDeck: true, Rated: true, Cost: usd(cost), Quality: v}
	}
	demoted := quality.Verdict{Demoted: true}
	excluded := quality.Verdict{Demoted: true, Exclude: true}
	probed := quality.Verdict{Demoted: true, Probe: true}
	for _, tc := range []struct {
		name  string
		cands []Candidate
		want  []string
	}{
		{"healthy by priority and cost", []Candidate{c("b", 0, "0.05", quality.Verdict{}), c("a", 0, "0.04", quality.Verdict{}), c("z", 1, "0.01", quality.Verdict{})},
			[]string{"a", "b", "z"}},
		{"demoted after every healthy one", []Candidate{c("best", 0, "0.01", demoted), c("b", 0, "0.05", quality.Verdict{}), c("z", 3, "0.06", quality.Verdict{})},
			[]string{"b", "z", "best"}},
		{"demoted among themselves by priority and cost", []Candidate{c("d2", 0, "0.05", demoted), c("d1", 0, "0.02", demoted), c("h", 1, "0.05", quality.Verdict{})},
			[]string{"h", "d1", "d2"}},
		{"a probe goes first", []Candidate{c("h", 0, "0.01", quality.Verdict{}), c("p", 2, "0.05", probed)},
			[]string{"p", "h"}},
		{"excluded dropped", []Candidate{c("x", 0, "0.01", excluded), c("h", 1, "0.05", quality.Verdict{})},
			[]string{"h"}},
		{"excluded but probed", []Candidate{c("x", 0, "0.01", quality.Verdict{Demoted: true, Exclude: true, Probe: true}), c("h", 1, "0.05", quality.Verdict{})},
			[]string{"x", "h"}},
		{"all excluded: all offered, demoted", []Candidate{c("x2", 1, "0.01", excluded), c("x1", 0, "0.05", excluded)},
			[]string{"x1", "x2"}},
		{"all excluded but one over the margin: the margin still drops it", []Candidate{c("x", 0, "0.01", excluded), c("dear", 0, "0.095", excluded)},
			[]string{"x"}},
		{"a usable healthy one keeps the excluded out", []Candidate{c("x", 0, "0.01", excluded), c("dear", 0, "0.095", quality.Verdict{}), c("h", 2, "0.05", quality.Verdict{})},
			[]string{"h"}},
	} {
		var ids []string
		for _, i := range p.Rank(tc.cands, sell, true, 7) {
			ids = append(ids, tc.cands[i].ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ranked %v, want %v", tc.name, ids, tc.want)
		}
	}
	if ok, why := p.Keep(&Candidate{ID: "x", Quality: excluded}, sell, true); ok || why != "quality" {
		t.Errorf("Keep(excluded) = %v %q, want false \"quality\"", ok, why)
	}
}

// TestRankWeightedCost: with cost weighted by ASR, a cheap carrier that
// answers little ranks after a dearer one that answers: 0.02 at 25 % is
// 0.08 per answered call, 0.05 at 100 % is 0.05. Without enough samples
// (not Weighted) the rate alone counts.
func TestRankWeightedCost(t *testing.T) {
	p := mustPolicy(t, "0")
	sell := usd("0.10")
	c := func(id, cost string, v quality.Verdict) Candidate {
		return Candidate{ID: id, BuyDeck: true, Rated: true, Cost: usd(cost), Quality: v}
	}
	for _, tc := range []struct {
		name  string
		cands []Candidate
		want  []string
	}{
		{"weighted", []Candidate{c("cheap", "0.02", quality.Verdict{Weighted: true, ASRBps: 2500}), c("dear", "0.05", quality.Verdict{Weighted: true, ASRBps: 10000})},
			[]string{"dear", "cheap"}},
		{"cheap answers enough", []Candidate{c("cheap", "0.02", quality.Verdict{Weighted: true, ASRBps: 5000}), c("dear", "0.05", quality.Verdict{Weighted: true, ASRBps: 10000})},
			[]string{"cheap", "dear"}},
		{"no answers at all sorts last", []Candidate{c("none", "0.0001", quality.Verdict{Weighted: true, ASRBps: 0}), c("dear", "0.09", quality.Verdict{Weighted: true, ASRBps: 2000})},
			[]string{"dear", "none"}},
		{"too few samples: rate alone", []Candidate{c("cheap", "0.02", quality.Verdict{}), c("dear", "0.05", quality.Verdict{Weighted: true, ASRBps: 10000})},
			[]string{"cheap", "dear"}},
	} {
		var ids []string
		for _, i := range p.Rank(tc.cands, sell, true, 1) {
			ids = append(ids, tc.cands[i].ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ranked %v, want %v", tc.name, ids, tc.want)
		}
	}
}

func TestJudgeWeighted(t *testing.T) {
	th, _ := quality.Thresholds{MinSamples: 4, WeightCost: true}.Normalize()
	tr := quality.New(quality.Config{})
	k := quality.Key{Candidate: "trunk:t", Prefix: "1"}
	for i := range 4 {
		kind := quality.NetworkFailure
		if i == 0 {
			kind = quality.Answered
		}
		if v := tr.Judge(k, &th, false); v.Weighted {
			t.Fatalf("after %d attempts (< 4): weighted", i)
		}
		tr.Observe(k, quality.Outcome{Kind: kind, Duration: time.Minute, PDD: -1, LossPPM: -1, Jitter: -1}, &th)
	}
	if v := tr.Judge(k, &th, false); !v.Weighted || v.ASRBps != 2500 || v.Demoted {
		t.Fatalf("verdict %+v, want weighted at 25%% and not demoted (no thresholds)", v)
	}
}
