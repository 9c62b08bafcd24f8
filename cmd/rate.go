package cmd

import (
	"context"
	"encoding/csv"
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
	"github.com/ospnode/ospnode/settlement"
)

// rateCommand is `ospnode rate import|list|show`: rate decks on a running
// node (for offline rating see `ospnode settle rate`).
func rateCommand() *cli.Command {
	env := envVars("RATE")
	return &cli.Command{
		Name:  "rate",
		Usage: "manage rate decks on a running node",
		Subcommands: []*cli.Command{
			{Name: "import", ArgsUsage: "DECK.csv",
				Usage: "load a deck version (prefix,description,rate,connect_fee,first_increment,next_increment,effective_from[,effective_until]); any bad line rejects the file",
				Flags: withAdmin(false,
					&cli.StringFlag{Name: "deck", Usage: "deck id (members and peers refer to it)", Required: true, EnvVars: env("DECK")},
					&cli.StringFlag{Name: "counterparty", Usage: "member or peer id (or account member:ID / peer:ID)", Required: true, EnvVars: env("COUNTERPARTY")},
					&cli.StringFlag{Name: "direction", Usage: "sell (we charge the counterparty) or buy (it charges us)", Required: true, EnvVars: env("DIRECTION")},
					&cli.StringFlag{Name: "currency", Usage: "ISO 4217 currency of the deck", Required: true, EnvVars: env("CURRENCY")},
					&cli.IntFlag{Name: "decimals", Usage: "round each call's cost to this many places", Value: 4, EnvVars: env("DECIMALS")},
					&cli.StringFlag{Name: "rounding", Usage: "half-up, half-even, up or down", Value: money.HalfUp, EnvVars: env("ROUNDING")},
					&cli.StringFlag{Name: "duration-rounding", Usage: "milliseconds to seconds: up, down or half-up", Value: "up", EnvVars: env("DURATION_ROUNDING")},
				), Action: rateImport},
			{Name: "list", Usage: "list decks", Flags: withAdmin(true), Action: rateList},
			{Name: "show", Usage: "show a deck's versions and rows", ArgsUsage: "DECK", Flags: withAdmin(true), Action: rateShow},
		},
	}
}

func rateImport(c *cli.Context) error {
	file, err := oneArg(c, "DECK.csv")
	if err != nil {
		return err
	}
	dir := c.String("direction")
	if dir != "sell" && dir != "buy" {
		return usage("--direction %q: want sell or buy", dir)
	}
	cur := strings.ToUpper(c.String("currency"))
	if !money.ValidCurrency(cur) {
		return usage("--currency %q: not an ISO 4217 code", c.String("currency"))
	}
	if d := c.Int("decimals"); d < 0 || d > settlement.MaxDecimals {
		return usage("--decimals %d: want 0..%d", d, settlement.MaxDecimals)
	}
	if _, err := settlement.ParseDurationMode(c.String("duration-rounding")); err != nil {
		return usage("--duration-rounding: %v", err)
	}
	fh, err := os.Open(file)
	if err != nil {
		return usage("%v", err)
	}
	defer fh.Close()
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		q := url.Values{"counterparty": {c.String("counterparty")}, "direction": {dir}, "currency": {cur},
			"decimals": {strconv.Itoa(c.Int("decimals"))}, "rounding": {c.String("rounding")},
			"duration_rounding": {c.String("duration-rounding")}}
		resp, err := a.raw(ctx, http.MethodPost, "/v1/decks/"+pathEscape(c.String("deck"))+"/versions", q, fh, "text/csv")
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		defer resp.Body.Close()
		var res struct {
			DeckID       string      `json:"deck_id"`
			Counterparty string      `json:"counterparty"`
			Versions     []time.Time `json:"versions"`
			Rows         int         `json:"rows"`
		}
		if err := jsonDecode(resp, &res); err != nil {
			return err
		}
		var vs []string
		for _, v := range res.Versions {
			vs = append(vs, v.UTC().Format(time.RFC3339))
		}
		_, err = fmt.Fprintf(c.App.Writer, "%s: deck %s (%s, %s %s): %d rows in %d version(s) effective %s\n",
			file, res.DeckID, res.Counterparty, dir, cur, res.Rows, len(res.Versions), strings.Join(vs, ", "))
		return err
	})
}

func rateList(c *cli.Context) error {
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var ds []struct {
			ID           string    `json:"id"`
			Counterparty string    `json:"counterparty"`
			Direction    string    `json:"direction"`
			Currency     string    `json:"currency"`
			Decimals     int32     `json:"decimals"`
			Rounding     string    `json:"rounding_mode"`
			Versions     int       `json:"versions"`
			Rows         int       `json:"rows"`
			LatestFrom   time.Time `json:"latest_effective_from"`
		}
		if err := a.do(ctx, http.MethodGet, "/v1/decks", nil, nil, &ds); err != nil {
			return err
		}
		t := &table{head: []string{"DECK", "COUNTERPARTY", "DIRECTION", "CURRENCY", "DECIMALS", "ROUNDING", "VERSIONS", "ROWS", "LATEST FROM"}}
		for _, d := range ds {
			t.add(d.ID, d.Counterparty, d.Direction, d.Currency, strconv.Itoa(int(d.Decimals)), d.Rounding,
				strconv.Itoa(d.Versions), strconv.Itoa(d.Rows), d.LatestFrom.UTC().Format(time.RFC3339))
		}
		return printResult(c, ds, t)
	})
}

func rateShow(c *cli.Context) error {
	id, err := oneArg(c, "DECK")
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var vs []ledger.DeckVersion
		if err := a.do(ctx, http.MethodGet, "/v1/decks/"+pathEscape(id), nil, nil, &vs); err != nil {
			return err
		}
		if c.String("output") == "csv" {
			// The deck CSV that rate import and settle rate --deck read
			// (one version per effective_from; currency is extra, ignored
			// by the reader and given to it with --currency).
			cw := csv.NewWriter(c.App.Writer)
			_ = cw.Write([]string{"prefix", "description", "rate", "connect_fee", "first_increment", "next_increment", "effective_from", "effective_until", "currency"})
			for _, v := range vs {
				until := ""
				if !v.EffectiveUntil.IsZero() {
					until = v.EffectiveUntil.UTC().Format(time.RFC3339)
				}
				for _, r := range v.Rows {
					fee := r.ConnectFee.Text()
					if r.ConnectFee.Currency() == "" {
						fee = "0"
					}
					_ = cw.Write([]string{r.Prefix, r.Description, r.Rate.Text(), fee, strconv.Itoa(r.FirstIncrement),
						strconv.Itoa(r.NextIncrement), v.EffectiveFrom.UTC().Format(time.RFC3339), until, v.Currency})
				}
			}
			cw.Flush()
			return cw.Error()
		}
		t := &table{head: []string{"EFFECTIVE FROM", "PREFIX", "DESCRIPTION", "RATE", "CONNECT FEE", "INCREMENTS", "CURRENCY"}}
		for _, v := range vs {
			for _, r := range v.Rows {
				t.add(v.EffectiveFrom.UTC().Format(time.RFC3339), r.Prefix, r.Description, r.Rate.Text(), r.ConnectFee.Text(),
					strconv.Itoa(r.FirstIncrement)+"/"+strconv.Itoa(r.NextIncrement), v.Currency)
			}
		}
		return printResult(c, vs, t)
	})
}
