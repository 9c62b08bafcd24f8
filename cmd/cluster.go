package cmd

import (
	"context"
	"net/http"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/consensus"
)

// clusterStatus is what GET /v1/status and the membership changes answer
// (the fields the CLI shows).
type clusterStatus struct {
	consensus.Status
	NodeID string `json:"node_id"`
	OSPURL string `json:"osp_url"`
	Ledger struct {
		AppliedIndex  uint64 `json:"applied_index"`
		UsageRecords  uint64 `json:"usage_records"`
		Postings      uint64 `json:"postings"`
		OutboxPending int    `json:"outbox_pending"`
	} `json:"ledger"`
}

// clusterCommand is `ospnode cluster status|join|remove|transfer|snapshot`.
func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "observe and change the Raft cluster through a node's admin API",
		Subcommands: []*cli.Command{
			{Name: "status", Usage: "the node's view: state, leader, term, indexes, members", Flags: withAdmin(true), Action: clusterStatusAction},
			{Name: "join", Usage: "add a voter: ID CLUSTER-ADDR (the new node's --cluster-addr)", ArgsUsage: "ID ADDR", Flags: withAdmin(true),
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return usage("cluster join: give ID and ADDR")
					}
					return clusterChange(c, "join", map[string]string{"id": c.Args().Get(0), "addr": c.Args().Get(1)})
				}},
			{Name: "remove", Usage: "remove a server from the cluster", ArgsUsage: "ID", Flags: withAdmin(true),
				Action: func(c *cli.Context) error {
					id, err := oneArg(c, "server ID")
					if err != nil {
						return err
					}
					return clusterChange(c, "remove", map[string]string{"id": id})
				}},
			{Name: "transfer", Usage: "hand leadership to ID (no ID: any up-to-date voter)", ArgsUsage: "[ID]", Flags: withAdmin(true),
				Action: func(c *cli.Context) error {
					if c.NArg() > 1 {
						return usage("cluster transfer: at most one ID")
					}
					return clusterChange(c, "transfer", map[string]string{"id": c.Args().First()})
				}},
			snapshotCommand(),
		},
	}
}

func clusterStatusAction(c *cli.Context) error {
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var st clusterStatus
		if err := a.do(ctx, http.MethodGet, "/v1/status", nil, nil, &st); err != nil {
			return err
		}
		return printStatus(c, st, st.Status)
	})
}

func clusterChange(c *cli.Context, op string, body map[string]string) error {
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var st consensus.Status
		if err := a.do(ctx, http.MethodPost, "/v1/cluster/"+op, nil, body, &st); err != nil {
			return err
		}
		return printStatus(c, st, st)
	})
}

func printStatus(c *cli.Context, v any, st consensus.Status) error {
	t := &table{head: []string{"ID", "ADDRESS", "VOTER", "ROLE"}}
	for _, m := range st.Members {
		role := "follower"
		if m.ID == st.LeaderID {
			role = "leader"
		}
		if m.ID == st.ID {
			role += " (this node)"
		}
		t.add(m.ID, m.Addr, strconv.FormatBool(m.Voter), role)
	}
	if c.String("output") == "table" {
		_, _ = c.App.Writer.Write([]byte("node " + st.ID + ": " + st.State + ", leader " + orDash(st.LeaderID) +
			", term " + strconv.FormatUint(st.Term, 10) + ", commit " + strconv.FormatUint(st.CommitIndex, 10) +
			", applied " + strconv.FormatUint(st.AppliedIndex, 10) + "\n"))
	}
	return printResult(c, v, t)
}
