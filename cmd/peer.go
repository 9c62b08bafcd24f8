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
	"github.com/ospnode/ospnode/settlement"
)

// peerCommand is `ospnode peer add|list|remove`.
func peerCommand() *cli.Command {
	env := envVars("PEER")
	return &cli.Command{
		Name:  "peer",
		Usage: "manage peering networks we forward calls to and settle with",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "create or replace a peer (every field is replaced)", ArgsUsage: "ID", Flags: withAdmin(true,
				append([]cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "display name", EnvVars: env("NAME")},
					&cli.StringSliceFlag{Name: "service-point", Usage: "OSP server URL of the peer, optionally URL,WEIGHT (repeat)", Required: true, EnvVars: env("SERVICE_POINT")},
					&cli.StringSliceFlag{Name: "trusted-ca", Usage: "PEM file of a CA that signs the peer's tokens and TLS (repeat)", EnvVars: env("TRUSTED_CA")},
					&cli.StringFlag{Name: "client-cert", Usage: "our client certificate for this peer (file path or key-store reference)", EnvVars: env("CLIENT_CERT")},
					&cli.StringFlag{Name: "client-key", Usage: "our client key for this peer (reference; the key never enters the ledger)", EnvVars: env("CLIENT_KEY")},
					&cli.StringFlag{Name: "our-member-id", Usage: "our identity as a member of the peer network", EnvVars: env("OUR_MEMBER_ID")},
					&cli.StringFlag{Name: "buy-deck", Usage: "deck id rating calls we send to the peer", EnvVars: env("BUY_DECK")},
					&cli.IntFlag{Name: "cps-limit", Usage: "calls per second to the peer (0: unlimited)", EnvVars: env("CPS_LIMIT")},
					&cli.IntFlag{Name: "concurrent-limit", Usage: "concurrent calls (0: unlimited)", EnvVars: env("CONCURRENT_LIMIT")},
					&cli.BoolFlag{Name: "disabled", Usage: "create it disabled", EnvVars: env("DISABLED")},
				}, billingFlags(env, "our network's terms (no override)")...)...,
			), Action: peerAdd},
			{Name: "show", Usage: "show one peer", ArgsUsage: "ID", Flags: withAdmin(true), Action: peerShow},
			{Name: "list", Usage: "list peers", Flags: withAdmin(true), Action: func(c *cli.Context) error {
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					var ps []ledger.Peer
					if err := a.do(ctx, http.MethodGet, "/v1/peers", nil, nil, &ps); err != nil {
						return err
					}
					return printPeers(c, ps, ps)
				})
			}},
			{Name: "remove", Usage: "delete a peer (its pending outbox items stay until delivered)", ArgsUsage: "ID", Flags: withAdmin(false), Action: func(c *cli.Context) error {
				id, err := oneArg(c, "peer ID")
				if err != nil {
					return err
				}
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					if err := a.do(ctx, http.MethodDelete, "/v1/peers/"+pathEscape(id), nil, nil, nil); err != nil {
						return err
					}
					_, err := fmt.Fprintf(c.App.Writer, "removed peer %s\n", id)
					return err
				})
			}},
		},
	}
}

func peerAdd(c *cli.Context) error {
	id, err := oneArg(c, "peer ID")
	if err != nil {
		return err
	}
	p := ledger.Peer{ID: id, Name: c.String("name"), Status: ledger.PeerActive, ClientCertRef: c.String("client-cert"),
		ClientKeyRef: c.String("client-key"), OurMemberID: c.String("our-member-id"), BuyDeckID: c.String("buy-deck"),
		CPSLimit: c.Int("cps-limit"), ConcurrentLimit: c.Int("concurrent-limit")}
	if c.Bool("disabled") {
		p.Status = ledger.PeerDisabled
	}
	if p.BillingIdentity, err = billingFromFlags(c); err != nil {
		return err
	}
	// urfave/cli splits slice flags at commas, so "URL,WEIGHT" arrives as
	// two items: a bare number is the weight of the URL before it.
	for _, sp := range c.StringSlice("service-point") {
		sp = strings.TrimSpace(sp)
		if w, err := strconv.Atoi(sp); err == nil && len(p.ServicePoints) > 0 {
			if w < 0 {
				return usage("--service-point weight %d: must not be negative", w)
			}
			p.ServicePoints[len(p.ServicePoints)-1].Weight = w
			continue
		}
		if !strings.Contains(sp, "://") {
			return usage("--service-point %q: want URL or URL,WEIGHT", sp)
		}
		p.ServicePoints = append(p.ServicePoints, ledger.ServicePoint{URL: sp})
	}
	for _, f := range c.StringSlice("trusted-ca") {
		b, err := os.ReadFile(f)
		if err != nil {
			return usage("--trusted-ca: %v", err)
		}
		p.TrustedCAs = append(p.TrustedCAs, string(b))
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var out ledger.Peer
		if err := a.do(ctx, http.MethodPut, "/v1/peers/"+pathEscape(id), nil, p, &out); err != nil {
			return err
		}
		return printPeers(c, out, []ledger.Peer{out})
	})
}

func printPeers(c *cli.Context, v any, ps []ledger.Peer) error {
	t := &table{head: []string{"ID", "NAME", "STATUS", "SERVICE POINTS", "TRUSTED CAS", "OUR MEMBER ID", "BUY DECK"}}
	for _, p := range ps {
		var sps []string
		for _, sp := range p.ServicePoints {
			sps = append(sps, sp.URL+" w"+strconv.Itoa(sp.Weight))
		}
		t.add(p.ID, p.Name, string(p.Status), strings.Join(sps, " "), strconv.Itoa(len(p.TrustedCAs)), orDash(p.OurMemberID), orDash(p.BuyDeckID))
	}
	return printResult(c, v, t)
}

// peerShow prints every setting of one peer.
func peerShow(c *cli.Context) error {
	id, err := oneArg(c, "peer ID")
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var p ledger.Peer
		if err := a.do(ctx, http.MethodGet, "/v1/peers/"+pathEscape(id), nil, nil, &p); err != nil {
			return err
		}
		if c.String("output") != "table" {
			return printPeers(c, p, []ledger.Peer{p})
		}
		var sps []string
		for _, sp := range p.ServicePoints {
			sps = append(sps, sp.URL+" w"+strconv.Itoa(sp.Weight))
		}
		t := &table{head: []string{"FIELD", "VALUE"}}
		t.add("id", p.ID)
		t.add("name", orDash(p.Name))
		t.add("status", string(p.Status))
		t.add("service points", orDash(strings.Join(sps, " ")))
		t.add("trusted CAs", strconv.Itoa(len(p.TrustedCAs)))
		t.add("our member id", orDash(p.OurMemberID))
		t.add("buy deck", orDash(p.BuyDeckID))
		t.add("calls per second", limitText(p.CPSLimit))
		t.add("concurrent calls", limitText(p.ConcurrentLimit))
		addBillingRows(t, p.BillingIdentity, "our network's")
		return printResult(c, p, t)
	})
}

// outboxCommand is `ospnode outbox list`: usage waiting to be cascaded.
func outboxCommand() *cli.Command {
	return &cli.Command{
		Name:  "outbox",
		Usage: "inspect the federation outbox (usage waiting to be cascaded to peers)",
		Subcommands: []*cli.Command{{
			Name: "list", Usage: "pending items, oldest first", Flags: withAdmin(true,
				&cli.StringFlag{Name: "peer", Usage: "only items for this peer", EnvVars: []string{"OSPNODE_OUTBOX_PEER"}},
				&cli.IntFlag{Name: "limit", Usage: "at most this many", Value: 100, EnvVars: []string{"OSPNODE_OUTBOX_LIMIT"}}),
			Action: func(c *cli.Context) error {
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					q := url.Values{"limit": {strconv.Itoa(c.Int("limit"))}}
					if p := c.String("peer"); p != "" {
						q.Set("peer", p)
					}
					var items []ledger.OutboxItem
					if err := a.do(ctx, http.MethodGet, "/v1/outbox", q, nil, &items); err != nil {
						return err
					}
					t := &table{head: []string{"ID", "PEER", "UPSTREAM TX", "CREATED", "USAGE", "CALLED", "DURATION"}}
					for _, it := range items {
						t.add(strconv.FormatUint(it.ID, 10), it.Peer, strconv.FormatUint(it.UpstreamTransactionID, 10),
							it.CreatedAt.UTC().Format(time.RFC3339), strconv.FormatUint(it.Usage.ID, 10), it.Usage.Called,
							settlement.FormatMillis(it.Usage.DurationMillis))
					}
					return printResult(c, items, t)
				})
			},
		}},
	}
}
