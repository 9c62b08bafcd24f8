package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
)

// The admin API's own types (GET /v1/routes/lookup), shared so that the
// CLI cannot drift from the server.
type (
	routeExplanation = node.RouteExplanation
	candidateVerdict = node.CandidateVerdict
)

// routeCommand is `ospnode route import|list|lookup`.
func routeCommand() *cli.Command {
	return &cli.Command{
		Name:  "route",
		Usage: "manage the routing table (destination prefix → trunks and peers)",
		Subcommands: []*cli.Command{
			{Name: "import", ArgsUsage: "FILE.csv",
				Usage:  "load routes from CSV (header: prefix,kind,id,priority,weight,strip,add_prefix,blocked; one candidate per line); any bad line rejects the file",
				Flags:  withAdmin(false, &cli.BoolFlag{Name: "replace", Usage: "replace the whole table (default: upsert the file's prefixes)", EnvVars: []string{"OSPNODE_ROUTE_REPLACE"}}),
				Action: routeImport},
			{Name: "list", Usage: "list routes", Flags: withAdmin(true,
				&cli.StringFlag{Name: "prefix", Usage: "only prefixes starting with this", EnvVars: []string{"OSPNODE_ROUTE_PREFIX"}},
				&cli.IntFlag{Name: "limit", Usage: "at most this many routes", Value: 1000, EnvVars: []string{"OSPNODE_ROUTE_LIMIT"}}),
				Action: routeList},
			{Name: "add", ArgsUsage: "PREFIX", Usage: "create or replace the route of one prefix",
				Flags: withAdmin(true,
					&cli.StringSliceFlag{Name: "candidate", Usage: "KIND:ID[:PRIORITY[:WEIGHT[:STRIP[:ADD]]]], KIND trunk or peer, lower priority preferred (repeat, in any order)", EnvVars: []string{"OSPNODE_ROUTE_CANDIDATE"}},
					&cli.BoolFlag{Name: "blocked", Usage: "refuse calls to the prefix (403)", EnvVars: []string{"OSPNODE_ROUTE_BLOCKED"}}),
				Action: routeAdd},
			{Name: "delete", ArgsUsage: "PREFIX", Usage: "remove the route of one prefix", Flags: withAdmin(false), Action: routeDelete},
			{Name: "quality", ArgsUsage: "PREFIX", Usage: "set (or --clear) the route's quality policy: demote or exclude candidates whose ASR, NER or PDD over their last attempts is poor",
				Description: "A candidate (trunk or peer) of the route is demoted — offered after the healthy ones — when, over its\n" +
					"last N attempts under this route (at least --min-samples), its ASR or NER falls below the minimum or its\n" +
					"median post-dial delay rises above the maximum; it is restored once every --recover-* value is met\n" +
					"(hysteresis; default: the entering value). --probe of the authorisations still offer a demoted candidate\n" +
					"first, so a carrier that recovered gets traffic back. --exclude drops it instead of demoting it (unless\n" +
					"every candidate is excluded). Percentages are 0..100. `route add` replaces a route whole: set the policy\n" +
					"again after it, or keep routes in a network file (`ospnode apply`).",
				Flags: withAdmin(false,
					&cli.IntFlag{Name: "min-samples", Usage: "attempts needed before a candidate is judged (default 20)", EnvVars: []string{"OSPNODE_ROUTE_MIN_SAMPLES"}},
					&cli.Float64Flag{Name: "min-asr", Usage: "demote below this ASR, % (answered ÷ attempts)", EnvVars: []string{"OSPNODE_ROUTE_MIN_ASR"}},
					&cli.Float64Flag{Name: "recover-asr", Usage: "restore at this ASR, % (≥ --min-asr)", EnvVars: []string{"OSPNODE_ROUTE_RECOVER_ASR"}},
					&cli.Float64Flag{Name: "min-ner", Usage: "demote below this NER, % (answered + busy/no answer/declined ÷ attempts)", EnvVars: []string{"OSPNODE_ROUTE_MIN_NER"}},
					&cli.Float64Flag{Name: "recover-ner", Usage: "restore at this NER, %", EnvVars: []string{"OSPNODE_ROUTE_RECOVER_NER"}},
					&cli.DurationFlag{Name: "max-pdd", Usage: "demote above this median post-dial delay", EnvVars: []string{"OSPNODE_ROUTE_MAX_PDD"}},
					&cli.DurationFlag{Name: "recover-pdd", Usage: "restore at this median post-dial delay (≤ --max-pdd)", EnvVars: []string{"OSPNODE_ROUTE_RECOVER_PDD"}},
					&cli.BoolFlag{Name: "exclude", Usage: "exclude a poor candidate instead of demoting it", EnvVars: []string{"OSPNODE_ROUTE_EXCLUDE"}},
					&cli.Float64Flag{Name: "probe", Usage: "% of authorisations that still offer a demoted candidate first", Value: 5, EnvVars: []string{"OSPNODE_ROUTE_PROBE"}},
					&cli.BoolFlag{Name: "weight-cost", Usage: "rank candidates of equal priority by rate per answered call (rate ÷ ASR) instead of rate alone", EnvVars: []string{"OSPNODE_ROUTE_WEIGHT_COST"}},
					&cli.BoolFlag{Name: "clear", Usage: "remove the route's quality policy", EnvVars: []string{"OSPNODE_ROUTE_CLEAR"}}),
				Action: routeQuality},
			{Name: "lookup", ArgsUsage: "NUMBER", Usage: "which destinations a call to NUMBER gets, in order, and why the others are excluded",
				Flags:  withAdmin(true, &cli.StringFlag{Name: "member", Usage: "the calling member (its sell rate and blocks apply)", EnvVars: []string{"OSPNODE_ROUTE_MEMBER"}}),
				Action: routeLookup},
		},
	}
}

func routeImport(c *cli.Context) error {
	file, err := oneArg(c, "FILE.csv")
	if err != nil {
		return err
	}
	fh, err := os.Open(file)
	if err != nil {
		return usage("%v", err)
	}
	defer fh.Close()
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		q := url.Values{"replace": {strconv.FormatBool(c.Bool("replace"))}}
		resp, err := a.raw(ctx, http.MethodPost, "/v1/routes/import", q, fh, "text/csv")
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		defer resp.Body.Close()
		var res struct {
			Lines    int      `json:"lines"`
			Routes   int      `json:"routes"`
			Commands int      `json:"commands"`
			Replaced bool     `json:"replaced"`
			Warnings []string `json:"warnings"`
		}
		if err := jsonDecode(resp, &res); err != nil {
			return err
		}
		verb := "upserted"
		if res.Replaced {
			verb = "replaced the table with"
		}
		fmt.Fprintf(c.App.Writer, "%s: %s %d routes from %d lines (%d commands)\n", file, verb, res.Routes, res.Lines, res.Commands)
		for _, w := range res.Warnings {
			fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", w)
		}
		return nil
	})
}

func routeList(c *cli.Context) error {
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		q := url.Values{"limit": {strconv.Itoa(c.Int("limit"))}}
		if p := c.String("prefix"); p != "" {
			q.Set("prefix", p)
		}
		var rs []ledger.Route
		if err := a.do(ctx, http.MethodGet, "/v1/routes", q, nil, &rs); err != nil {
			return err
		}
		t := &table{head: []string{"PREFIX", "BLOCKED", "CANDIDATES", "QUALITY"}}
		for _, r := range rs {
			var cs []string
			for _, cd := range r.Candidates {
				s := cd.Kind + ":" + cd.ID + " p" + strconv.Itoa(cd.Priority) + " w" + strconv.Itoa(cd.Weight)
				if cd.Strip > 0 || cd.AddPrefix != "" {
					s += " -" + strconv.Itoa(cd.Strip) + "+" + cd.AddPrefix
				}
				cs = append(cs, s)
			}
			t.add(orDash(r.Prefix), strconv.FormatBool(r.Blocked), orDash(strings.Join(cs, ", ")), qualityText(r.Quality))
		}
		return printResult(c, rs, t)
	})
}

func routeLookup(c *cli.Context) error {
	num, err := oneArg(c, "NUMBER")
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		q := url.Values{"number": {num}}
		if m := c.String("member"); m != "" {
			q.Set("member", m)
		}
		var ex routeExplanation
		if err := a.do(ctx, http.MethodGet, "/v1/routes/lookup", q, nil, &ex); err != nil {
			return err
		}
		t := &table{head: []string{"RANK", "KIND", "ID", "MEMBER", "ADDRESS", "CALLED", "PRIORITY", "WEIGHT",
			"BUY/MIN", "BUY CONNECT", "MARGIN 1-MIN CALL", "EXCLUDED BECAUSE", "QUALITY"}}
		for _, list := range [][]candidateVerdict{ex.Offered, ex.Excluded} {
			for _, v := range list {
				rank := "-"
				if v.Rank > 0 {
					rank = strconv.Itoa(v.Rank)
				}
				buy := ptrAmount(v.BuyPerMinute)
				if v.BuyNote != "" {
					buy = v.BuyNote
				}
				t.add(rank, v.Kind, v.ID, orDash(v.Member), orDash(v.Address), v.Called, priorityText(v.RoutePriority, v.TrunkPriority),
					strconv.Itoa(v.Weight), buy, ptrAmount(v.BuyConnectFee), ptrAmount(v.Margin), orDash(v.Reason), orDash(v.Quality))
			}
		}
		if c.String("output") == "table" {
			w := c.App.Writer
			prefix := "none"
			if ex.MatchedPrefix != nil {
				prefix = *ex.MatchedPrefix
				if prefix == "" {
					prefix = "(default route)"
				}
			}
			sell := "no sell rate"
			if ex.SellPerMinute != nil {
				sell = fmt.Sprintf("sell %s/min + connect fee %s (a 1-minute call: %s)", amountText(*ex.SellPerMinute),
					ptrAmount(ex.SellConnectFee), ptrAmount(ex.SellRate))
			}
			fmt.Fprintf(w, "number %s, member %s: matched prefix %s, %s, deck %s, minimum margin %s\n",
				ex.Number, orDash(ex.Member), prefix, sell, orDash(ex.SellDeck), ex.MinMargin)
			if ex.Blocked != "" {
				fmt.Fprintf(w, "REFUSED: %s\n", ex.Blocked)
			}
			if ex.Note != "" {
				fmt.Fprintf(w, "%s\n", ex.Note)
			}
		}
		return printResult(c, ex, t)
	})
}

// priorityText shows a candidate's priority as `route list` does (p1),
// with the trunk's own priority when it has one (p1 t2): lower first.
func priorityText(route, trunk int) string {
	s := "p" + strconv.Itoa(route)
	if trunk != 0 {
		s += " t" + strconv.Itoa(trunk)
	}
	return s
}

func ptrAmount(a *money.Amount) string {
	if a == nil {
		return "-"
	}
	return amountText(*a)
}

// jsonDecode decodes a response body (and closes nothing: the caller does).
func jsonDecode(resp *http.Response, v any) error {
	if err := jsonNewDecoder(resp).Decode(v); err != nil {
		return fmt.Errorf("decode the node's answer: %w", err)
	}
	return nil
}

// parseCandidate reads KIND:ID[:PRIORITY[:WEIGHT[:STRIP[:ADD]]]].
func parseCandidate(s string) (ledger.RouteCandidate, error) {
	f := strings.Split(s, ":")
	if len(f) < 2 || len(f) > 6 || (f[0] != ledger.CandidateTrunk && f[0] != ledger.CandidatePeer) || f[1] == "" {
		return ledger.RouteCandidate{}, fmt.Errorf("--candidate %q: want KIND:ID[:PRIORITY[:WEIGHT[:STRIP[:ADD]]]] with KIND trunk or peer", s)
	}
	c := ledger.RouteCandidate{Kind: f[0], ID: f[1]}
	nums := []*int{&c.Priority, &c.Weight, &c.Strip}
	for i := 2; i < len(f) && i < 5; i++ {
		v, err := strconv.Atoi(f[i])
		if err != nil || v < 0 {
			return c, fmt.Errorf("--candidate %q: field %d (%s) is not a number ≥ 0", s, i+1, []string{"priority", "weight", "strip"}[i-2])
		}
		*nums[i-2] = v
	}
	if len(f) == 6 {
		c.AddPrefix = f[5]
	}
	return c, nil
}

func routeAdd(c *cli.Context) error {
	prefix, err := oneArg(c, "PREFIX")
	if err != nil {
		return err
	}
	rt := ledger.Route{Prefix: prefix, Blocked: c.Bool("blocked")}
	for _, s := range c.StringSlice("candidate") {
		cd, err := parseCandidate(s)
		if err != nil {
			return usage("%v", err)
		}
		rt.Candidates = append(rt.Candidates, cd)
	}
	if len(rt.Candidates) == 0 && !rt.Blocked {
		return usage("give --candidate (one or more), or --blocked")
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var out ledger.Route
		if err := a.do(ctx, http.MethodPut, "/v1/routes/"+url.PathEscape(prefix), nil, rt, &out); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "route %s: %d candidate(s), blocked %v\n", orDash(out.Prefix), len(out.Candidates), out.Blocked)
		return nil
	})
}

func routeDelete(c *cli.Context) error {
	prefix, err := oneArg(c, "PREFIX")
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		if err := a.do(ctx, http.MethodDelete, "/v1/routes/"+url.PathEscape(prefix), nil, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "route %s removed\n", orDash(prefix))
		return nil
	})
}

func routeQuality(c *cli.Context) error {
	prefix, err := oneArg(c, "PREFIX")
	if err != nil {
		return err
	}
	q := &ledger.RouteQuality{MinSamples: c.Int("min-samples"), MaxPDDMillis: c.Duration("max-pdd").Milliseconds(),
		RecoverPDDMillis: c.Duration("recover-pdd").Milliseconds(), Exclude: c.Bool("exclude"), WeightCost: c.Bool("weight-cost")}
	// The percentages go to basis points exactly, through their shortest
	// decimal text (parseBps: at most two decimals), as in the network file.
	for _, f := range []struct {
		flag string
		bps  *int
	}{{"min-asr", &q.MinASRBps}, {"recover-asr", &q.RecoverASRBps}, {"min-ner", &q.MinNERBps}, {"recover-ner", &q.RecoverNERBps}, {"probe", &q.ProbeBps}} {
		v, err := parseBps("--"+f.flag, strconv.FormatFloat(c.Float64(f.flag), 'f', -1, 64))
		if err != nil {
			return usage("%v", err)
		}
		*f.bps = v
	}
	method := http.MethodPut
	if c.Bool("clear") {
		method, q = http.MethodDelete, nil
	} else if q.MinASRBps == 0 && q.MinNERBps == 0 && q.MaxPDDMillis == 0 && !q.WeightCost {
		return usage("give --min-asr, --min-ner, --max-pdd or --weight-cost (or --clear)")
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var out ledger.Route
		var body any
		if q != nil {
			body = q
		}
		if err := a.do(ctx, method, "/v1/routes/"+url.PathEscape(prefix)+"/quality", nil, body, &out); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "route %s: quality %s\n", orDash(out.Prefix), qualityText(out.Quality))
		return nil
	})
}

// qualityText is a route's quality policy in one line ("-": none).
func qualityText(q *ledger.RouteQuality) string {
	if q == nil {
		return "-"
	}
	var parts []string
	num := formatBps
	band := func(name string, min, recover int) {
		if min > 0 {
			s := name + "<" + num(min) + "%"
			if recover > min {
				s += " (restore " + num(recover) + "%)"
			}
			parts = append(parts, s)
		}
	}
	band("ASR", q.MinASRBps, q.RecoverASRBps)
	band("NER", q.MinNERBps, q.RecoverNERBps)
	if q.MaxPDDMillis > 0 {
		s := "PDD>" + (time.Duration(q.MaxPDDMillis) * time.Millisecond).String()
		if q.RecoverPDDMillis > 0 && q.RecoverPDDMillis < q.MaxPDDMillis {
			s += " (restore " + (time.Duration(q.RecoverPDDMillis) * time.Millisecond).String() + ")"
		}
		parts = append(parts, s)
	}
	if q.MinSamples > 0 {
		parts = append(parts, "n≥"+strconv.Itoa(q.MinSamples))
	}
	action := "demote"
	if q.Exclude {
		action = "exclude"
	}
	s := strings.Join(parts, " ")
	if s == "" {
		s = "no thresholds"
	}
	s += ": " + action + ", probe " + num(q.ProbeBps) + "%"
	if q.WeightCost {
		s += ", cost per answered call"
	}
	return s
}
