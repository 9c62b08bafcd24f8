package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/node"
)

// statsReport is the admin API's GET /v1/stats answer, shared with the
// server.
type statsReport = node.StatsReport

// statsCommand is `ospnode stats`: route quality from the usage the
// network recorded.
func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "route quality (attempts, ASR, NER, ACD, PDD, short calls, loss, jitter) by trunk, peer, member or destination prefix",
		Description: "Every node computes these from the replicated usage: per route candidate (trunk or peer) and route prefix,\n" +
			"over its last N attempts (N is the node's quality window, 200 by default) and over the last hour.\n" +
			"A group adds up its series exactly (ASR over all the group's attempts). ASR = answered ÷ attempts;\n" +
			"NER = (answered + busy/no answer/declined) ÷ attempts; ACD over answered calls; PDD p50/p95 to the\n" +
			"upper bound of their histogram bucket; short calls are answered calls under 10 s. DEMOTED counts the\n" +
			"series that route quality demotes (see `ospnode route lookup` for why).",
		Flags: withAdmin(true,
			&cli.StringFlag{Name: "by", Usage: "group by trunk, peer, member, prefix or series (candidate and prefix)", Value: "trunk", EnvVars: envVars("STATS")("BY")},
			&cli.StringFlag{Name: "window", Usage: "the window the table and CSV show: last (the last N attempts) or hour", Value: "last", EnvVars: envVars("STATS")("WINDOW")}),
		Action: statsAction,
	}
}

func statsAction(c *cli.Context) error {
	if err := checkListOutput(c); err != nil {
		return err
	}
	win := c.String("window")
	if win != "last" && win != "hour" {
		return usage("--window %q: want last or hour", win)
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var rep statsReport
		if err := a.do(ctx, http.MethodGet, "/v1/stats", url.Values{"by": {c.String("by")}}, nil, &rep); err != nil {
			return err
		}
		t := &table{head: []string{upper(rep.By), "SERIES", "DEMOTED", "ATTEMPTS", "ASR%", "NER%", "ACD", "PDD P50", "PDD P95", "SHORT%", "LOSS%", "JITTER"}}
		for _, g := range rep.Groups {
			st := g.Last
			if win == "hour" {
				st = g.Hour
			}
			t.add(g.Group, strconv.Itoa(g.Series), strconv.Itoa(g.Demoted), strconv.Itoa(st.Attempts),
				pctText(float64(st.ASRBps)/100, st.Attempts), pctText(float64(st.NERBps)/100, st.Attempts), durText(st.ACD, st.Answered),
				durText(st.PDD50, st.PDDSamples), durText(st.PDD95, st.PDDSamples), pctText(float64(st.ShortBps)/100, st.Answered),
				pctText(float64(st.LossPPM)/1e4, st.LossSamples), durText(st.Jitter, st.JitterSamples))
		}
		if c.String("output") == "table" {
			what := fmt.Sprintf("the last %d attempts of each series", rep.Window)
			if win == "hour" {
				what = "the last hour"
			}
			fmt.Fprintf(c.App.Writer, "route quality by %s over %s, at %s (%d series tracked", rep.By, what, rep.At.Format(time.RFC3339), rep.Series)
			if rep.Evicted > 0 {
				fmt.Fprintf(c.App.Writer, ", %d dropped past the cap", rep.Evicted)
			}
			fmt.Fprintln(c.App.Writer, ")")
		}
		return printResult(c, rep, t)
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// pctText is a percentage with one decimal, "-" without samples (display
// only: the figures themselves are integers, basis points or ppm).
func pctText(v float64, n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// durText is a duration in seconds with one decimal ("2.5s"), "-"
// without samples.
func durText(d time.Duration, n int) string {
	if n == 0 {
		return "-"
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}
