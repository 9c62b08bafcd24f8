package cmd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// snapshotCommand is `ospnode cluster snapshot save FILE`.
func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "back up the cluster's ledger (restore it with `ospnode restore`)",
		Subcommands: []*cli.Command{{
			Name:      "save",
			Usage:     "download a consistent snapshot of the ledger from a node into FILE",
			ArgsUsage: "FILE",
			Description: "The node takes a Raft snapshot between two applied log entries (any node may\n" +
				"answer; a follower spares the leader) and sends it. FILE is written beside\n" +
				"itself as FILE.partial, checked against the node's SHA-256 and opened as a\n" +
				"ledger before it is renamed into place: a FILE that exists is complete.\n" +
				"It is a ledger.db image: `ospnode ledger audit --data-dir` reads a directory\n" +
				"holding it as ledger.db; `ospnode restore FILE` starts a new cluster from it.",
			Flags: adminFlags(),
			Action: func(c *cli.Context) error {
				path, err := oneArg(c, "FILE")
				if err != nil {
					return err
				}
				a, err := newAdminClient(c)
				if err != nil {
					return err
				}
				a.hc.Timeout = max(a.hc.Timeout, 30*time.Minute) // a large ledger takes long
				resp, err := a.raw(c.Context, http.MethodGet, "/v1/cluster/snapshot", nil, nil, "")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				idx, sum, size, err := saveSnapshot(path, resp)
				if err != nil {
					return cli.Exit("cluster snapshot save: "+err.Error(), 1)
				}
				fmt.Fprintf(c.App.Writer, "saved %s: ledger at log index %d, %d bytes, sha256 %s\n", path, idx, size, sum)
				return nil
			},
		}},
	}
}

// saveSnapshot writes resp's body to path through path.partial and checks
// it: length and SHA-256 as the node announced them, and a ledger that
// opens at an index no later than the snapshot's. It returns the ledger's
// index, the SHA-256 and the size.
func saveSnapshot(path string, resp *http.Response) (uint64, string, int64, error) {
	wantIdx, err := strconv.ParseUint(resp.Header.Get(node.HeaderSnapshotIndex), 10, 64)
	if err != nil || wantIdx == 0 {
		return 0, "", 0, fmt.Errorf("the node sent no snapshot index (%q): is it an ospnode of this version?", resp.Header.Get(node.HeaderSnapshotIndex))
	}
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, "", 0, err
	}
	defer os.Remove(tmp) // no-op after the rename
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(f, h), resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, "", 0, fmt.Errorf("download: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if resp.ContentLength >= 0 && size != resp.ContentLength {
		return 0, "", 0, fmt.Errorf("download cut: %d of %d bytes", size, resp.ContentLength)
	}
	if want := resp.Header.Get(node.HeaderSnapshotSHA256); sum != want {
		return 0, "", 0, fmt.Errorf("SHA-256 %s, the node sent %s", sum, want)
	}
	idx, err := snapshotIndex(tmp)
	if err != nil {
		return 0, "", 0, err
	}
	// The ledger records the last index that carried commands; Raft's
	// snapshot index also counts its own entries (elections' no-ops,
	// membership changes), so it may be higher, never lower.
	if idx == 0 || idx > wantIdx {
		return 0, "", 0, fmt.Errorf("the ledger in the snapshot is at index %d, the node's snapshot at %d", idx, wantIdx)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, "", 0, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	return idx, sum, size, nil
}

// snapshotIndex opens a snapshot file as a ledger, read-only, and returns
// the log index it was taken at.
func snapshotIndex(path string) (uint64, error) {
	st, err := ledger.Open(path, ledger.Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("%s is not a ledger snapshot: %w", path, err)
	}
	defer st.Close()
	return st.AppliedIndex(), nil
}

// restoreCommand is `ospnode restore FILE`.
func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "prepare a new data directory to start a NEW cluster from a snapshot (ospnode cluster snapshot save)",
		ArgsUsage: "FILE",
		Description: "Offline, before the first `ospnode serve` of the new cluster's first node:\n" +
			"  ospnode restore backup.db --data-dir /var/lib/ospnode --node-id n1 --cluster-addr 10.0.0.1:5047\n" +
			"  ospnode serve --data-dir /var/lib/ospnode --node-id n1 --cluster-addr 10.0.0.1:5047 …\n" +
			"The node starts as a one-node cluster holding the snapshot's ledger (bootstrap is\n" +
			"not needed) and numbers new log entries after it; join the other nodes as usual\n" +
			"(fresh data directories: they receive the snapshot from the leader). --node-id and\n" +
			"--cluster-addr (or --cluster-advertise) must be what serve will be given: they are\n" +
			"the new cluster's first configuration. The data directory must hold no Raft state.\n" +
			"Keys are not in the snapshot: give serve the same --token-cert/--token-key (and TLS\n" +
			"files) as the old cluster, or members must fetch the new token bundle.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Usage: "the new node's data `DIR` (as for serve) (required)", EnvVars: []string{"OSPNODE_DATA_DIR"}},
			&cli.StringFlag{Name: "node-id", Usage: "the new node's Raft id (as for serve) (required)", EnvVars: []string{"OSPNODE_NODE_ID"}},
			&cli.StringFlag{Name: "cluster-addr", Usage: "the new node's cluster `ADDR` (as for serve)", EnvVars: []string{"OSPNODE_CLUSTER_ADDR"}},
			&cli.StringFlag{Name: "cluster-advertise", Usage: "the address other nodes dial, when not --cluster-addr (as for serve)", EnvVars: []string{"OSPNODE_CLUSTER_ADVERTISE"}},
		},
		Action: func(c *cli.Context) error {
			path, err := oneArg(c, "snapshot FILE")
			if err != nil {
				return err
			}
			for _, f := range []string{"data-dir", "node-id"} {
				if c.String(f) == "" {
					return usage("restore: give --%s (as serve will be given it)", f)
				}
			}
			addr := c.String("cluster-advertise")
			if addr == "" {
				addr = c.String("cluster-addr")
			}
			if addr == "" {
				return usage("restore: give --cluster-addr (or --cluster-advertise): the address the new node serves the cluster on")
			}
			idx, err := snapshotIndex(path)
			if err != nil {
				return cli.Exit("restore: "+err.Error(), 1)
			}
			f, err := os.Open(path)
			if err != nil {
				return cli.Exit("restore: "+err.Error(), 1)
			}
			defer f.Close()
			dir := c.String("data-dir")
			if _, err := os.Stat(filepath.Join(dir, "ledger.db")); err == nil {
				return cli.Exit("restore: "+dir+" already holds a ledger: restore into a new data directory", 1)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return cli.Exit("restore: "+err.Error(), 1)
			}
			if err := consensus.SeedSnapshot(filepath.Join(dir, "raft"), c.String("node-id"), addr, idx, f); err != nil {
				return cli.Exit("restore: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "restored %s into %s: ledger at log index %d; start it with `ospnode serve --data-dir %s --node-id %s` (cluster address %s)\n",
				path, dir, idx, dir, c.String("node-id"), addr)
			return nil
		},
	}
}
