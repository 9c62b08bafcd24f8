package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/node"
)

// applyTimeout is apply's default bound on its one admin request: a
// 500,000-route table is a few hundred ledger commands.
const applyTimeout = 30 * time.Minute

// applyCommand is `ospnode apply -f FILE`: configuration as code.
func applyCommand() *cli.Command {
	env := envVars("APPLY")
	return &cli.Command{
		Name:  "apply",
		Usage: "make the network match a configuration file (validate, show the plan, apply only the differences)",
		Description: "FILE (YAML, see docs/examples/network.yaml) describes the network's settings, rate decks, members,\n" +
			"peers, trunks and routes. The node validates the whole file before writing anything (a bad file exits 2\n" +
			"with every problem, naming item and field), prints the plan (+ add, ~ change, - remove) and applies it.\n" +
			"A second apply of the same file changes nothing. Things the file does not mention are left alone unless\n" +
			"--prune (trunks, peers and routes; members and deck versions are never removed: suspend a member instead).",
		Flags: withAdmin(true,
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "configuration file (- for stdin)", Required: true, EnvVars: env("FILE")},
			&cli.BoolFlag{Name: "dry-run", Usage: "validate and print the plan; write nothing", EnvVars: env("DRY_RUN")},
			&cli.BoolFlag{Name: "prune", Usage: "also remove trunks, peers and routes the file does not list", EnvVars: env("PRUNE")},
		),
		Action: runApply,
	}
}

// exportCommand is `ospnode export`: the running configuration as a file
// that apply reads back with no changes.
func exportCommand() *cli.Command {
	env := envVars("EXPORT")
	return &cli.Command{
		Name:  "export",
		Usage: "write the running configuration as a file for `ospnode apply` (export | apply -f - changes nothing)",
		Flags: withAdmin(false,
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "write to this file instead of stdout", EnvVars: env("FILE")},
			&cli.StringFlag{Name: "routes-csv", Usage: "write the route table to this CSV file (the `route import` format) and name it in route_files: for large tables, which apply reads far faster than inline YAML", EnvVars: env("ROUTES_CSV")},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("export takes no arguments (got %q)", c.Args().Slice())
			}
			return adminRun(c, func(ctx context.Context, a *adminClient) error {
				if !c.IsSet("timeout") {
					a.hc.Timeout = applyTimeout
				}
				var cfg node.NetworkConfig
				if err := a.do(ctx, http.MethodGet, "/v1/config", nil, nil, &cfg); err != nil {
					return err
				}
				f := confFromConfig(&cfg)
				if rc := c.String("routes-csv"); rc != "" {
					if err := moveRoutesToCSV(f, rc, c.String("file")); err != nil {
						return err
					}
				}
				var buf bytes.Buffer
				if err := writeConfFile(&buf, f); err != nil {
					return err
				}
				if f := c.String("file"); f != "" {
					return os.WriteFile(f, buf.Bytes(), 0o600)
				}
				_, err := c.App.Writer.Write(buf.Bytes())
				return err
			})
		},
	}
}

// moveRoutesToCSV writes f's routes to the CSV file name and lists it in
// f.RouteFiles instead (relative to the directory of the configuration
// file confName when it is given). A route with neither candidates nor a
// block, or with a quality policy, has no CSV form and stays inline.
func moveRoutesToCSV(f *confFile, name, confName string) error {
	fh, err := os.Create(name)
	if err != nil {
		return usage("--routes-csv: %v", err)
	}
	w := csv.NewWriter(bufio.NewWriterSize(fh, 1<<16))
	_ = w.Write([]string{"prefix", "kind", "id", "priority", "weight", "strip", "add_prefix", "blocked"})
	var inline []confRoute
	for _, r := range f.Routes {
		if r.Quality != nil {
			inline = append(inline, r)
			continue
		}
		if len(r.Candidates) == 0 {
			if !r.Blocked {
				inline = append(inline, r)
				continue
			}
			_ = w.Write([]string{r.Prefix, "", "", "", "", "", "", "true"})
			continue
		}
		for i, cd := range r.Candidates {
			_ = w.Write([]string{r.Prefix, cd.Kind, cd.ID, strconv.Itoa(cd.Priority), strconv.Itoa(cd.Weight), strconv.Itoa(cd.Strip),
				cd.AddPrefix, strconv.FormatBool(r.Blocked && i == 0)})
		}
	}
	w.Flush()
	err = errors.Join(w.Error(), fh.Close())
	if err != nil {
		return fmt.Errorf("--routes-csv %s: %w", name, err)
	}
	ref := name
	if confName != "" {
		abs, err1 := filepath.Abs(name)
		dir, err2 := filepath.Abs(filepath.Dir(confName))
		if rel, err := filepath.Rel(dir, abs); err1 == nil && err2 == nil && err == nil && !strings.HasPrefix(rel, "..") {
			ref = rel
		} else if err1 == nil {
			ref = abs
		}
	}
	f.Routes, f.RouteFiles = inline, []string{ref}
	return nil
}

func runApply(c *cli.Context) error {
	if c.NArg() > 0 {
		return usage("apply takes no arguments (got %q): give the file with -f", c.Args().Slice())
	}
	switch c.String("output") {
	case "table", "json":
	default:
		return usage("--output %q: want table (the plan as text) or json", c.String("output"))
	}
	name := c.String("file")
	var r io.Reader
	dir := ""
	if name == "-" {
		r, name = c.App.Reader, "stdin"
		if r == nil {
			r = os.Stdin
		}
		dir, _ = os.Getwd()
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return usage("--file: %v", err)
		}
		defer fh.Close()
		r, dir = fh, filepath.Dir(name)
	}
	cfg, err := readConfFile(name, r, dir)
	if err != nil {
		var fp *fileProblems
		if errors.As(err, &fp) {
			return usage("%s: configuration rejected, nothing written:\n  %s", fp.name, strings.Join(fp.problems, "\n  "))
		}
		return err
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		if !c.IsSet("timeout") {
			a.hc.Timeout = applyTimeout
		}
		q := url.Values{"dry_run": {strconv.FormatBool(c.Bool("dry-run"))}, "prune": {strconv.FormatBool(c.Bool("prune"))}}
		resp, err := a.raw(ctx, http.MethodPost, "/v1/config/apply", q, bytes.NewReader(body), "application/json")
		if err != nil {
			var ae *adminError
			if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
				return usage("%s: %s", name, ae.Msg)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		defer resp.Body.Close()
		var plan node.Plan
		if err := jsonDecode(resp, &plan); err != nil {
			return err
		}
		if c.String("output") == "json" {
			return writeJSON(c.App.Writer, plan)
		}
		return printPlan(c.App.Writer, &plan)
	})
}

// printPlan writes a plan as text: one line per item (+ add, ~ change,
// - remove), the route counts, what is left alone, and a summary line.
func printPlan(w io.Writer, p *node.Plan) error {
	var adds, changes, removes int
	sign := map[string]string{node.ActionAdd: "+", node.ActionChange: "~", node.ActionRemove: "-"}
	for _, ch := range p.Changes {
		line := fmt.Sprintf("  %s %s %s", sign[ch.Action], ch.Kind, ch.ID)
		if len(ch.Fields) > 0 {
			line += " (" + strings.Join(ch.Fields, ", ") + ")"
		}
		fmt.Fprintln(w, line)
		if ch.Kind == "route" {
			continue
		}
		switch ch.Action {
		case node.ActionAdd:
			adds++
		case node.ActionChange:
			changes++
		case node.ActionRemove:
			removes++
		}
	}
	rp := p.Routes
	if rp.Unlisted > 0 {
		fmt.Fprintf(w, "  … and %d more route changes\n", rp.Unlisted)
	}
	adds, changes, removes = adds+rp.Add, changes+rp.Change, removes+rp.Remove
	fmt.Fprintf(w, "routes: %d in the file: %d to add, %d to change, %d to remove, %d unchanged\n", rp.InFile, rp.Add, rp.Change, rp.Remove, rp.Unchanged)
	for _, u := range p.Unmanaged {
		fmt.Fprintf(w, "left alone: %s\n", u)
	}
	for _, wn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	var err error
	switch {
	case p.Empty():
		_, err = fmt.Fprintln(w, "no changes: the network already matches the file")
	case p.DryRun:
		_, err = fmt.Fprintf(w, "dry run: %d to add, %d to change, %d to remove (%d ledger commands); nothing written\n", adds, changes, removes, p.Commands)
	default:
		_, err = fmt.Fprintf(w, "applied: %d added, %d changed, %d removed (%d ledger commands)\n", adds, changes, removes, p.Commands)
	}
	return err
}
