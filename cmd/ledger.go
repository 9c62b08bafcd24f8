package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// exitAuditDiff is the exit status of `ospnode ledger audit` when the audit
// found differences (1 stays "could not audit").
const exitAuditDiff = 3

// ledgerCommand is `ospnode ledger audit|balances`.
func ledgerCommand() *cli.Command {
	return &cli.Command{
		Name:  "ledger",
		Usage: "verify and read the replicated ledger",
		Subcommands: []*cli.Command{
			{Name: "audit", Usage: "re-verify the posting hash chain and every balance; exit 3 on any difference",
				Flags: withAdmin(false,
					&cli.StringFlag{Name: "data-dir", Usage: "audit OFFLINE: the stopped node's data directory (its ledger.db is read, never written)", EnvVars: []string{"OSPNODE_AUDIT_DATA_DIR"}},
					&cli.StringFlag{Name: "output", Usage: "table or json", Value: "table", EnvVars: []string{"OSPNODE_OUTPUT"}}),
				Action: ledgerAudit},
			{Name: "balances", Usage: "account balances (linearizable read)", Flags: withAdmin(true,
				&cli.StringFlag{Name: "account", Usage: "only this account (member:ID, peer:ID, revenue, cost, or a bare member/peer id)", EnvVars: []string{"OSPNODE_BALANCE_ACCOUNT"}},
				&cli.StringFlag{Name: "currency", Usage: "only this currency", EnvVars: []string{"OSPNODE_BALANCE_CURRENCY"}}),
				Action: ledgerBalances},
		},
	}
}

func ledgerAudit(c *cli.Context) error {
	if o := c.String("output"); o != "table" && o != "json" {
		return usage("--output %q: want table or json", o)
	}
	var rep node.AuditResult
	if dir := c.String("data-dir"); dir != "" {
		r, applied, err := auditOffline(filepath.Join(dir, "ledger.db"))
		if err != nil {
			return err
		}
		rep = node.AuditJSON(r, applied)
	} else {
		a, err := newAdminClient(c)
		if err != nil {
			return err
		}
		resp, err := a.raw(c.Context, http.MethodGet, "/v1/audit", nil, nil, "", http.StatusOK, http.StatusConflict)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := jsonDecode(resp, &rep); err != nil {
			return err
		}
	}
	if c.String("output") == "json" {
		if err := writeJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else {
		w := c.App.Writer
		fmt.Fprintf(w, "postings %d, accounts %d, chain head %s, applied index %d\n", rep.Postings, rep.Accounts, rep.Head, rep.Applied)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "DIFFERENCE: %s\n", p)
		}
		if rep.OK {
			fmt.Fprintln(w, "audit OK: every posting balances and chains, every balance equals its postings")
		}
	}
	if !rep.OK {
		return cli.Exit(fmt.Sprintf("ledger audit found %d difference(s)", len(rep.Problems)), exitAuditDiff)
	}
	return nil
}

// auditOffline audits a stopped node's ledger file without writing it:
// the store is opened read-only, under bbolt's shared lock, so a running
// node (which holds the exclusive lock) is detected by a lock timeout.
func auditOffline(path string) (ledger.AuditReport, uint64, error) {
	if _, err := os.Stat(path); err != nil {
		return ledger.AuditReport{}, 0, usage("--data-dir: %v", err)
	}
	s, err := ledger.Open(path, ledger.Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		if errors.Is(err, ledger.ErrLocked) {
			return ledger.AuditReport{}, 0, fmt.Errorf("%s is locked: is the node still running? stop it, or audit online with --node", path)
		}
		return ledger.AuditReport{}, 0, err
	}
	defer s.Close()
	rep, err := s.Audit()
	return rep, s.AppliedIndex(), err
}

func ledgerBalances(c *cli.Context) error {
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		q := url.Values{}
		if v := c.String("account"); v != "" {
			q.Set("account", v)
		}
		if v := c.String("currency"); v != "" {
			q.Set("currency", v)
		}
		var bs []ledger.Balance
		if err := a.do(ctx, http.MethodGet, "/v1/balances", q, nil, &bs); err != nil {
			return err
		}
		t := &table{head: []string{"ACCOUNT", "CURRENCY", "BALANCE"}}
		for _, b := range bs {
			t.add(b.Account, b.Amount.Currency(), b.Amount.Text())
		}
		return printResult(c, bs, t)
	})
}
