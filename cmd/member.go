package cmd

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
)

// memberCommand is `ospnode member add|list|show|suspend|activate`.
func memberCommand() *cli.Command {
	env := envVars("MEMBER")
	add := []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "display name", EnvVars: env("name")},
		&cli.StringSliceFlag{Name: "source-addr", Usage: "IP or CIDR its SIP proxy sends from (repeat)", EnvVars: env("source-addr")},
		&cli.StringSliceFlag{Name: "device-id", Usage: "OSP DeviceId that identifies it among members sharing an address (repeat)", EnvVars: env("device-id")},
		&cli.BoolFlag{Name: "identify-by-ids", Usage: "let --device-id/--customer-id alone identify it from any address (self-declared: spoofable; the node warns)", EnvVars: env("identify-by-ids")},
		&cli.StringSliceFlag{Name: "customer-id", Usage: "OSP CustomerId that identifies it (repeat)", EnvVars: env("customer-id")},
		&cli.StringSliceFlag{Name: "cert-subject", Usage: "client certificate subject DN (repeat)", EnvVars: env("cert-subject")},
		&cli.StringSliceFlag{Name: "cert-fingerprint", Usage: "client certificate SHA-256 fingerprint, hex (repeat)", EnvVars: env("cert-fingerprint")},
		&cli.StringFlag{Name: "credit-limit", Usage: "most it may owe, e.g. \"500 USD\" (empty: no credit check)", EnvVars: env("credit-limit")},
		&cli.IntFlag{Name: "cps-limit", Usage: "calls per second (0: unlimited)", EnvVars: env("cps-limit")},
		&cli.IntFlag{Name: "concurrent-limit", Usage: "concurrent calls (0: unlimited)", EnvVars: env("concurrent-limit")},
		&cli.StringFlag{Name: "token-kind", Usage: "token its proxy accepts: signed, text or xml (empty: the node's default)", EnvVars: env("token-kind")},
		&cli.StringFlag{Name: "sell-deck", Usage: "deck id rating the calls it originates", EnvVars: env("sell-deck")},
		&cli.StringFlag{Name: "buy-deck", Usage: "deck id rating the calls it terminates", EnvVars: env("buy-deck")},
		&cli.StringSliceFlag{Name: "blocked-prefix", Usage: "destination prefix it may not call (repeat)", EnvVars: env("blocked-prefix")},
		&cli.BoolFlag{Name: "suspended", Usage: "create it suspended", EnvVars: env("suspended")},
		&cli.BoolFlag{Name: "signal-address-port", Usage: "offer destinations to its proxies as [ip]:port; by default one on port 5060 is offered as [ip], which the Kamailio/OpenSIPS osp module needs", EnvVars: env("signal-address-port")},
	}
	add = append(add, billingFlags(env, "the network's terms (no override)")...)
	idAction := func(verb string) cli.ActionFunc {
		return func(c *cli.Context) error {
			id, err := oneArg(c, "member ID")
			if err != nil {
				return err
			}
			return adminRun(c, func(ctx context.Context, a *adminClient) error {
				var m ledger.Member
				method, path := http.MethodGet, "/v1/members/"+pathEscape(id)
				if verb != "" {
					method, path = http.MethodPost, path+"/"+verb
				}
				if err := a.do(ctx, method, path, nil, nil, &m); err != nil {
					return err
				}
				if verb == "" {
					return printMember(c, m)
				}
				return printMembers(c, m, []ledger.Member{m})
			})
		}
	}
	return &cli.Command{
		Name:  "member",
		Usage: "manage the carriers of this network",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "create or replace a member (every field is replaced; see update)", ArgsUsage: "ID", Flags: withAdmin(true, add...), Action: memberAdd},
			{Name: "update", Usage: "change only the fields given (list flags replace that list)", ArgsUsage: "ID", Flags: withAdmin(true, add...), Action: memberUpdate},
			{Name: "list", Usage: "list members", Flags: withAdmin(true), Action: func(c *cli.Context) error {
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					var ms []ledger.Member
					if err := a.do(ctx, http.MethodGet, "/v1/members", nil, nil, &ms); err != nil {
						return err
					}
					return printMembers(c, ms, ms)
				})
			}},
			{Name: "show", Usage: "show one member", ArgsUsage: "ID", Flags: withAdmin(true), Action: idAction("")},
			{Name: "usage-now", Usage: "calls in progress and credit held against the member's limits, cluster-wide", ArgsUsage: "ID", Flags: withAdmin(true), Action: memberUsageNow},
			{Name: "suspend", Usage: "refuse the member's authorisations from now on", ArgsUsage: "ID", Flags: withAdmin(true), Action: idAction("suspend")},
			{Name: "activate", Usage: "accept the member's authorisations again", ArgsUsage: "ID", Flags: withAdmin(true), Action: idAction("activate")},
		},
	}
}

func memberAdd(c *cli.Context) error {
	id, err := oneArg(c, "member ID")
	if err != nil {
		return err
	}
	m := ledger.Member{ID: id, Name: c.String("name"), Status: ledger.MemberActive,
		Credentials: ledger.Credentials{SourceAddrs: c.StringSlice("source-addr"), DeviceIDs: c.StringSlice("device-id"),
			CustomerIDs: c.StringSlice("customer-id"), CertSubjects: c.StringSlice("cert-subject"),
			CertFingerprints: c.StringSlice("cert-fingerprint"), IdentifyByIDs: c.Bool("identify-by-ids")},
		CPSLimit: c.Int("cps-limit"), ConcurrentLimit: c.Int("concurrent-limit"), TokenKind: c.String("token-kind"),
		SellDeckID: c.String("sell-deck"), BuyDeckID: c.String("buy-deck"), BlockedPrefixes: c.StringSlice("blocked-prefix")}
	if c.Bool("suspended") {
		m.Status = ledger.MemberSuspended
	}
	m.SignalAddressPort = c.Bool("signal-address-port")
	if m.BillingIdentity, err = billingFromFlags(c); err != nil {
		return err
	}
	if s := c.String("credit-limit"); s != "" {
		if err := m.CreditLimit.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
			return usage("--credit-limit %q: want an amount and a currency, e.g. \"500 USD\"", s)
		}
	}
	if m.CPSLimit < 0 || m.ConcurrentLimit < 0 {
		return usage("--cps-limit and --concurrent-limit must not be negative")
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var out ledger.Member
		if err := a.do(ctx, http.MethodPut, "/v1/members/"+pathEscape(id), nil, m, &out); err != nil {
			return err
		}
		return printMembers(c, out, []ledger.Member{out})
	})
}

func printMembers(c *cli.Context, v any, ms []ledger.Member) error {
	t := &table{head: []string{"ID", "NAME", "STATUS", "SOURCE ADDRS", "SELL DECK", "BUY DECK", "CREDIT LIMIT", "CPS", "CONCURRENT"}}
	for _, m := range ms {
		t.add(m.ID, m.Name, string(m.Status), orDash(strings.Join(m.Credentials.SourceAddrs, " ")), orDash(m.SellDeckID),
			orDash(m.BuyDeckID), orUnlimited(amountText(m.CreditLimit)), limitText(m.CPSLimit), limitText(m.ConcurrentLimit))
	}
	return printResult(c, v, t)
}

// limitText is a limit as people read it: 0 is no limit.
func limitText(n int) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}

func orUnlimited(s string) string {
	if s == "-" || s == "" {
		return "unlimited"
	}
	return s
}

// printMember shows every setting of one member (member show).
func printMember(c *cli.Context, m ledger.Member) error {
	if c.String("output") != "table" {
		return printMembers(c, m, []ledger.Member{m})
	}
	tokenKind := m.TokenKind
	if tokenKind == "" {
		tokenKind = "the node's default"
	}
	join := func(xs []string) string { return orDash(strings.Join(xs, " ")) }
	t := &table{head: []string{"FIELD", "VALUE"}}
	t.add("id", m.ID)
	t.add("name", orDash(m.Name))
	t.add("status", string(m.Status))
	t.add("source addresses", join(m.Credentials.SourceAddrs))
	t.add("device ids", join(m.Credentials.DeviceIDs))
	t.add("customer ids", join(m.Credentials.CustomerIDs))
	t.add("identified by ids alone", strconv.FormatBool(m.Credentials.IdentifyByIDs))
	t.add("certificate subjects", join(m.Credentials.CertSubjects))
	t.add("certificate fingerprints", join(m.Credentials.CertFingerprints))
	t.add("sell deck", orDash(m.SellDeckID))
	t.add("buy deck", orDash(m.BuyDeckID))
	t.add("credit limit", orUnlimited(amountText(m.CreditLimit)))
	t.add("calls per second", limitText(m.CPSLimit))
	t.add("concurrent calls", limitText(m.ConcurrentLimit))
	t.add("blocked prefixes", join(m.BlockedPrefixes))
	t.add("token kind", tokenKind)
	t.add("shared token", strconv.FormatBool(m.SharedToken))
	t.add("signal address port", strconv.FormatBool(m.SignalAddressPort))
	addBillingRows(t, m.BillingIdentity, "the network's")
	return printResult(c, m, t)
}

// memberUpdate changes the fields whose flags are given and keeps the
// others (member add replaces the whole member).
func memberUpdate(c *cli.Context) error {
	id, err := oneArg(c, "member ID")
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var m ledger.Member
		if err := a.do(ctx, http.MethodGet, "/v1/members/"+pathEscape(id), nil, nil, &m); err != nil {
			return err
		}
		set := func(flag string, apply func()) {
			if c.IsSet(flag) {
				apply()
			}
		}
		set("name", func() { m.Name = c.String("name") })
		set("source-addr", func() { m.Credentials.SourceAddrs = c.StringSlice("source-addr") })
		set("device-id", func() { m.Credentials.DeviceIDs = c.StringSlice("device-id") })
		set("customer-id", func() { m.Credentials.CustomerIDs = c.StringSlice("customer-id") })
		set("cert-subject", func() { m.Credentials.CertSubjects = c.StringSlice("cert-subject") })
		set("cert-fingerprint", func() { m.Credentials.CertFingerprints = c.StringSlice("cert-fingerprint") })
		set("identify-by-ids", func() { m.Credentials.IdentifyByIDs = c.Bool("identify-by-ids") })
		set("cps-limit", func() { m.CPSLimit = c.Int("cps-limit") })
		set("concurrent-limit", func() { m.ConcurrentLimit = c.Int("concurrent-limit") })
		set("token-kind", func() { m.TokenKind = c.String("token-kind") })
		set("sell-deck", func() { m.SellDeckID = c.String("sell-deck") })
		set("buy-deck", func() { m.BuyDeckID = c.String("buy-deck") })
		set("blocked-prefix", func() { m.BlockedPrefixes = c.StringSlice("blocked-prefix") })
		set("signal-address-port", func() { m.SignalAddressPort = c.Bool("signal-address-port") })
		set("suspended", func() {
			m.Status = ledger.MemberActive
			if c.Bool("suspended") {
				m.Status = ledger.MemberSuspended
			}
		})
		if c.IsSet("credit-limit") {
			m.CreditLimit = money.Amount{}
			if s := strings.TrimSpace(c.String("credit-limit")); s != "" {
				if err := m.CreditLimit.UnmarshalText([]byte(s)); err != nil {
					return usage("--credit-limit %q: want an amount and a currency, e.g. \"500 USD\"", s)
				}
			}
		}
		if m.CPSLimit < 0 || m.ConcurrentLimit < 0 {
			return usage("--cps-limit and --concurrent-limit must not be negative")
		}
		if err := updateBilling(c, &m.BillingIdentity, true); err != nil {
			return err
		}
		var out ledger.Member
		if err := a.do(ctx, http.MethodPut, "/v1/members/"+pathEscape(id), nil, m, &out); err != nil {
			return err
		}
		return printMember(c, out)
	})
}

// memberUsageNow prints GET /v1/members/{id}/admission.
func memberUsageNow(c *cli.Context) error {
	id, err := oneArg(c, "member ID")
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var ad node.MemberAdmission
		if err := a.do(ctx, http.MethodGet, "/v1/members/"+pathEscape(id)+"/admission", nil, nil, &ad); err != nil {
			return err
		}
		limit := func(n int) string {
			if n <= 0 {
				return "unlimited"
			}
			return strconv.Itoa(n)
		}
		t := &table{head: []string{"MEMBER", "CALLS IN PROGRESS", "CONCURRENT LIMIT", "CPS LIMIT", "CREDIT LIMIT", "BALANCE", "HELD", "REMAINING", "AS OF INDEX"}}
		calls := strconv.Itoa(ad.CallsInProgress)
		if ad.ConcurrentLimit <= 0 && ad.CPSLimit <= 0 && ad.CreditLimit.Currency() == "" {
			// Only the calls of members with a limit are admitted, and so
			// counted, by the ledger.
			calls = "not counted (no limits)"
		}
		t.add(ad.Member, calls, limit(ad.ConcurrentLimit), limit(ad.CPSLimit),
			amountText(ad.CreditLimit), amountText(ad.Balance), amountText(ad.Held), amountText(ad.Remaining),
			strconv.FormatUint(ad.Index, 10))
		return printResult(c, ad, t)
	})
}

func amountText(a money.Amount) string {
	if a.Currency() == "" {
		return "-"
	}
	return a.Text() + " " + a.Currency()
}
