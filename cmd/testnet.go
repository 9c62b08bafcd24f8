package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/testnet"
)

// defaultTestnetDir is where `ospnode testnet up` keeps its nodes.
const defaultTestnetDir = "./data/testnet"

// testnetCommand is `ospnode testnet`: whole federated topologies on
// loopback as child processes, for demos and manual fault injection.
func testnetCommand() *cli.Command {
	env := func(name string) []string { return []string{"OSPNODE_TESTNET_" + name} }
	dirFlag := &cli.StringFlag{Name: "dir", Value: defaultTestnetDir, Usage: "testnet directory (state file, node data, logs)", EnvVars: env("DIR")}
	return &cli.Command{
		Name:  "testnet",
		Usage: "run a federated test topology on loopback as child processes",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start the networks and wait (Ctrl-C stops every node)",
				Description: "Starts --networks networks of --nodes-per-network nodes each, chained PURPLE → HUB → YELLOW\n" +
					"(each forwards 33… to the next; one network is PURPLE, two PURPLE → YELLOW, four or more\n" +
					"PURPLE → HUB1 → HUB2 → … → YELLOW; --names chooses others), or the topology of --topology\n" +
					"FILE (JSON, see testnet/DESIGN.md). Every node is a child process of this binary with its\n" +
					"own data directory under --dir; endpoints are printed and written to DIR/testnet.json.\n" +
					"Node ids are the network name in lower case and the node's number: purple-1, hub-2, ….\n" +
					"Ports are free ones unless --base-port lays them out: node k (0-based, networks in order)\n" +
					"serves OSP on BASE+3k, the admin API on BASE+3k+1 and its cluster on BASE+3k+2.\n" +
					"Carrier A of every network is recognised from 127.0.0.2, carrier B from 127.0.0.3.",
				Flags: []cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "networks", Value: 1, Usage: "number of chained networks (default: 1, or the number of --names)", EnvVars: env("NETWORKS")},
					&cli.StringSliceFlag{Name: "names", Usage: "network names in chain order, comma-separated or repeated (default PURPLE, HUB…, YELLOW)", EnvVars: env("NAMES")},
					&cli.IntFlag{Name: "base-port", Usage: "lay the nodes' ports out from this port (3 per node; 0: free ports)", EnvVars: env("BASE_PORT")},
					&cli.IntFlag{Name: "nodes-per-network", Value: 3, Usage: "nodes per network (1..7)", EnvVars: env("NODES_PER_NETWORK")},
					&cli.StringFlag{Name: "topology", Usage: "topology file (JSON); overrides --networks and --nodes-per-network", EnvVars: env("TOPOLOGY")},
					&cli.DurationFlag{Name: "ready-timeout", Value: 90 * time.Second, Usage: "bound on starting every node", EnvVars: env("READY_TIMEOUT")},
				},
				Action: testnetUp,
			},
			{
				Name:   "down",
				Usage:  "stop the testnet recorded in --dir and remove the directory",
				Flags:  []cli.Flag{dirFlag, &cli.DurationFlag{Name: "timeout", Value: 15 * time.Second, Usage: "wait this long for a clean stop, then kill"}},
				Action: testnetDown,
			},
			{
				Name:  "status",
				Usage: "print each network's leader and each node's role, applied index, health and endpoints",
				Description: "Asks every node of the testnet in --dir for /healthz and its admin API's /v1/status\n" +
					"(role, leader, applied index). A network whose nodes name no leader cannot commit and is\n" +
					"shown as NO LEADER; a node that does not answer is shown down. --output json prints the\n" +
					"health as JSON; --output state prints the state file (it holds the admin tokens).",
				Flags: []cli.Flag{dirFlag, &cli.StringFlag{Name: "output", Value: "table", Usage: "table, json or state"},
					&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "bound on each question to a node"},
					&cli.DurationFlag{Name: "wait", Usage: "first wait up to this long for the testnet to be ready with a leader in every network (for scripts: exit 1 if it is not)"}},
				Action: testnetStatus,
			},
			{
				Name:      "token",
				Usage:     "print one node's admin token (from the state file), for --token or bench's --admin-token",
				ArgsUsage: "NODE-ID",
				Flags:     []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					id, err := oneArg(c, "NODE-ID")
					if err != nil {
						return err
					}
					st, err := testnet.ReadState(c.String("dir"))
					if err != nil {
						return cli.Exit("testnet token: "+err.Error(), 1)
					}
					n := st.Node(id)
					if n == nil {
						return cli.Exit(fmt.Sprintf("testnet token: no node %q (see `ospnode testnet status`)", id), 1)
					}
					fmt.Fprintln(c.App.Writer, n.AdminToken)
					return nil
				},
			},
			{
				Name:      "kill",
				Usage:     "kill one node process (fault injection); `ospnode testnet up` keeps the others running",
				ArgsUsage: "NODE-ID",
				Flags:     []cli.Flag{dirFlag, &cli.BoolFlag{Name: "clean", Usage: "interrupt (clean shutdown) instead of SIGKILL"}},
				Action:    testnetKill,
			},
			{
				Name:      "restart",
				Usage:     "start a killed node again from its data directory (fault injection)",
				ArgsUsage: "NODE-ID",
				Flags: []cli.Flag{dirFlag, &cli.DurationFlag{Name: "ready-timeout", Value: 60 * time.Second, Usage: "bound on the node becoming ready"},
					&cli.StringFlag{Name: "exe", Hidden: true, Usage: "ospnode binary to run (default: this one)"}},
				Action: testnetRestart,
			},
			{
				Name:      "partition",
				Usage:     "cut one node's cluster links, both ways, until `testnet heal` (fault injection)",
				ArgsUsage: "NODE-ID",
				Flags:     []cli.Flag{dirFlag},
				Action:    testnetFault(testnet.FaultPartition),
			},
			{
				Name:      "heal",
				Usage:     "end one node's partition and delay",
				ArgsUsage: "NODE-ID",
				Flags:     []cli.Flag{dirFlag},
				Action:    testnetFault(testnet.FaultHeal),
			},
			{
				Name:      "slow",
				Usage:     "delay every cluster connection dialled to one node (0 ends it)",
				ArgsUsage: "NODE-ID DELAY",
				Flags:     []cli.Flag{dirFlag},
				Action:    testnetFault(testnet.FaultSlow),
			},
			{
				Name:   "node",
				Usage:  "run one planned node (started by `testnet up`)",
				Hidden: true,
				Flags: []cli.Flag{dirFlag, &cli.StringFlag{Name: "id", Required: true},
					&cli.StringFlag{Name: "log-level", Value: "info"}},
				Action: testnetNode,
			},
		},
	}
}

func testnetUp(c *cli.Context) error {
	var spec testnet.TopologySpec
	if p := c.String("topology"); p != "" {
		var err error
		if spec, err = testnet.LoadTopology(p); err != nil {
			return cli.Exit("testnet up: "+err.Error(), 2)
		}
	} else {
		n, k, names := c.Int("networks"), c.Int("nodes-per-network"), c.StringSlice("names")
		if len(names) > 0 && !c.IsSet("networks") {
			n = len(names)
		}
		if n < 1 || n > 26 {
			return cli.Exit(fmt.Sprintf("testnet up: --networks %d: want 1..26", n), 2)
		}
		if len(names) == 0 {
			names = testnet.ChainNames(n)
		}
		if len(names) != n {
			return cli.Exit(fmt.Sprintf("testnet up: --names gives %d name(s) for --networks %d", len(names), n), 2)
		}
		spec = testnet.NamedChainTopology(names, k)
	}
	if err := spec.Normalize(); err != nil {
		return cli.Exit("testnet up: "+err.Error(), 2)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := c.String("dir")
	fmt.Fprintf(c.App.ErrWriter, "testnet: starting %d network(s) in %s …\n", len(spec.Networks), dir)
	p, err := testnet.Up(ctx, testnet.UpOptions{Dir: dir, Spec: spec, ReadyTimeout: c.Duration("ready-timeout"), BasePort: c.Int("base-port")})
	if errors.Is(err, testnet.ErrSpec) {
		return cli.Exit("testnet up: "+err.Error(), 2)
	}
	if err != nil {
		return cli.Exit("testnet up: "+err.Error(), 1)
	}
	if err := p.State.WriteEndpoints(c.App.Writer); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "testnet ready; Ctrl-C (or `ospnode testnet down --dir "+dir+"`) stops it")
	for {
		select {
		case id := <-p.Exits():
			fmt.Fprintf(c.App.ErrWriter, "testnet: node %s exited (log: %s)\n", id, p.State.Node(id).Log)
		case <-ctx.Done():
			fmt.Fprintln(c.App.ErrWriter, "testnet: stopping every node")
			// The state file may list nodes restarted since: stop what it says.
			if st, err := testnet.ReadState(dir); err == nil {
				p.State = st
			}
			if err := p.Stop(15 * time.Second); err != nil {
				return cli.Exit("testnet up: "+err.Error(), 1)
			}
			return nil
		}
	}
}

func testnetStatus(c *cli.Context) error {
	out := c.String("output")
	switch out {
	case "table", "json", "state":
	default:
		return usage("--output %q: want table, json or state", out)
	}
	if d := c.Duration("wait"); d > 0 {
		if err := waitTestnet(c.Context, c.String("dir"), d, c.Duration("timeout")); err != nil {
			return cli.Exit("testnet status: "+err.Error(), 1)
		}
	}
	st, err := testnet.ReadState(c.String("dir"))
	if err != nil {
		return cli.Exit("testnet status: "+err.Error(), 1)
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	if out == "state" {
		return enc.Encode(st)
	}
	health := st.Health(c.Context, c.Duration("timeout"))
	if out == "json" {
		return enc.Encode(health)
	}
	return st.WriteStatus(c.App.Writer, health)
}

// waitTestnet polls until the testnet in dir says it is ready and every
// network has a leader, for at most d.
func waitTestnet(ctx context.Context, dir string, d, probe time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	last := "no state file yet"
	for {
		if st, err := testnet.ReadState(dir); err != nil {
			last = err.Error()
		} else if !st.Ready {
			last = "starting"
		} else {
			var leaderless []string
			for _, h := range st.Health(ctx, probe) {
				if h.Leader == "" {
					leaderless = append(leaderless, h.Name)
				}
			}
			if len(leaderless) == 0 {
				return nil
			}
			last = "no leader in " + strings.Join(leaderless, ", ")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s (%s)", d, last)
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

func testnetDown(c *cli.Context) error {
	dir := c.String("dir")
	if err := testnet.Down(dir, c.Duration("timeout")); err != nil {
		return cli.Exit("testnet down: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "testnet in %s stopped and removed\n", dir)
	return nil
}

func testnetKill(c *cli.Context) error {
	id := c.Args().First()
	if id == "" {
		return cli.Exit("testnet kill: give a node id (see `ospnode testnet status`)", 2)
	}
	st, err := testnet.ReadState(c.String("dir"))
	if err != nil {
		return cli.Exit("testnet kill: "+err.Error(), 1)
	}
	n := st.Node(id)
	if n == nil || n.PID <= 0 {
		return cli.Exit(fmt.Sprintf("testnet kill: no running node %q", id), 1)
	}
	proc, err := os.FindProcess(n.PID)
	if err == nil {
		sig := os.Kill
		if c.Bool("clean") {
			sig = os.Interrupt
		}
		err = proc.Signal(sig)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("testnet kill %s (pid %d): %v", id, n.PID, err), 1)
	}
	fmt.Fprintf(c.App.Writer, "killed %s (pid %d)\n", id, n.PID)
	return nil
}

func testnetRestart(c *cli.Context) error {
	id := c.Args().First()
	if id == "" {
		return cli.Exit("testnet restart: give a node id (see `ospnode testnet status`)", 2)
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("ready-timeout"))
	defer cancel()
	pid, err := testnet.RestartNode(ctx, c.String("dir"), id, c.String("exe"))
	if err != nil {
		return cli.Exit("testnet restart: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "restarted %s (pid %d)\n", id, pid)
	return nil
}

// testnetFault is `testnet partition|heal|slow`: it asks the `up`
// process, which runs the cluster proxies, to change a node's fault.
func testnetFault(action string) cli.ActionFunc {
	return func(c *cli.Context) error {
		id := c.Args().First()
		if id == "" {
			return cli.Exit("testnet "+action+": give a node id (see `ospnode testnet status`)", 2)
		}
		var delay time.Duration
		if action == testnet.FaultSlow {
			var err error
			if delay, err = time.ParseDuration(c.Args().Get(1)); err != nil || delay < 0 {
				return cli.Exit(fmt.Sprintf("testnet slow: delay %q: want a duration such as 50ms", c.Args().Get(1)), 2)
			}
		}
		ctx, cancel := context.WithTimeout(c.Context, 15*time.Second)
		defer cancel()
		f, err := testnet.FaultProcessNode(ctx, c.String("dir"), id, action, delay)
		if err != nil {
			return cli.Exit("testnet "+action+": "+err.Error(), 1)
		}
		fmt.Fprintf(c.App.Writer, "%s: fault %s\n", id, f)
		return nil
	}
}

// testnetNode runs one node process. It keeps its signal handler for the
// whole run, so the second SIGINT a terminal's Ctrl-C sends (one to the
// process group, one from `testnet up`) does not kill it mid-close.
func testnetNode(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cli.Exit("testnet node: "+err.Error(), 2)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := testnet.RunProcessNode(ctx, c.String("dir"), c.String("id"), log); err != nil {
		return cli.Exit("testnet node: "+err.Error(), 1)
	}
	return nil
}
