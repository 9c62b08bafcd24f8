package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

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
		t := &table{head: []string{"PREFIX", "BLOCKED", "CANDIDATES"}}
		for _, r := range rs {
			var cs []string
			for _, cd := range r.Candidates {
				s := cd.Kind + ":" + cd.ID + " p" + strconv.Itoa(cd.Priority) + " w" + strconv.Itoa(cd.Weight)
				if cd.Strip > 0 || cd.AddPrefix != "" {
					s += " -" + strconv.Itoa(cd.Strip) + "+" + cd.AddPrefix
				}
				cs = append(cs, s)
			}
			t.add(orDash(r.Prefix), strconv.FormatBool(r.Blocked), orDash(strings.Join(cs, ", ")))
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
		t := &table{head: []string{"RANK", "KIND", "ID", "MEMBER", "ADDRESS", "CALLED", "PRIORITY", "WEIGHT", "BUY/MIN", "MARGIN", "EXCLUDED BECAUSE", "QUALITY"}}
		for _, list := range [][]candidateVerdict{ex.Offered, ex.Excluded} {
			for _, v := range list {
				rank := "-"
				if v.Rank > 0 {
					rank = strconv.Itoa(v.Rank)
				}
				t.add(rank, v.Kind, v.ID, orDash(v.Member), orDash(v.Address), v.Called, strconv.Itoa(v.Priority),
					strconv.Itoa(v.Weight), ptrAmount(v.BuyRate), ptrAmount(v.Margin), orDash(v.Reason), orDash(v.Quality))
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
			fmt.Fprintf(w, "number %s, member %s: matched prefix %s, sell/min %s (deck %s), minimum margin %s\n",
				ex.Number, orDash(ex.Member), prefix, ptrAmount(ex.SellRate), orDash(ex.SellDeck), ex.MinMargin)
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
