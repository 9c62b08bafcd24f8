package cmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/node/pki"

	"github.com/ospnode/ospnode/node"
)

// The operator commands (cluster, member, trunk, route, rate, peer,
// outbox, cdr, ledger, period, cert) talk to a running node's admin API
// with adminClient. Exit codes: 0 success, 1 the node refused or could not
// be reached (its {"error": …} message is printed), 2 bad usage, 3 the
// ledger audit found differences.

// adminFlags are the connection flags every operator command takes.
func adminFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "node", Usage: "admin API base URL of a cluster node", Value: "http://" + node.DefaultAdminAddr, EnvVars: []string{"OSPNODE_NODE"}},
		&cli.StringFlag{Name: "token", Usage: "admin API bearer token", EnvVars: []string{"OSPNODE_ADMIN_TOKEN"}},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the admin token (e.g. DATA-DIR/admin.token)", EnvVars: []string{"OSPNODE_ADMIN_TOKEN_FILE"}},
		&cli.StringFlag{Name: "ca", Usage: "PEM CA certificate to verify an https:// admin API", EnvVars: []string{"OSPNODE_CA"}},
		&cli.DurationFlag{Name: "timeout", Usage: "bound on one admin request", Value: 60 * time.Second, EnvVars: []string{"OSPNODE_ADMIN_TIMEOUT"}},
	}
}

// outputFlag is --output for commands whose results people pipe.
func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Usage: "table, json or csv", Value: "table", EnvVars: []string{"OSPNODE_OUTPUT"}}
}

// withAdmin appends the connection flags (and --output when out) to flags.
func withAdmin(out bool, flags ...cli.Flag) []cli.Flag {
	flags = append(flags, adminFlags()...)
	if out {
		flags = append(flags, outputFlag())
	}
	return flags
}

// adminClient is a small JSON client of the admin API. Safe for
// concurrent use.
type adminClient struct {
	base  string
	token string
	hc    *http.Client
}

// adminError is a non-2xx answer of the admin API.
type adminError struct {
	Status int
	Msg    string
	Reason string // the node's stable word for the refusal ("" when none), e.g. direction_required
}

func (e *adminError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized:
		hint = " (check --token / OSPNODE_ADMIN_TOKEN: the node's DATA-DIR/admin.token)"
	case http.StatusServiceUnavailable:
		hint = " (the cluster has no quorum or no leader right now: retry, or check `ospnode cluster status`)"
	}
	return fmt.Sprintf("node answered %d %s: %s%s", e.Status, http.StatusText(e.Status), e.Msg, hint)
}

func newAdminClient(c *cli.Context) (*adminClient, error) {
	base := strings.TrimRight(c.String("node"), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usage("--node %q: want the admin API URL, e.g. http://127.0.0.1:5046", c.String("node"))
	}
	token := c.String("token")
	if token == "" && c.String("token-file") != "" {
		b, err := os.ReadFile(c.String("token-file"))
		if err != nil {
			return nil, usage("--token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return nil, usage("no admin token: give --token or --token-file (OSPNODE_ADMIN_TOKEN); the node keeps it in DATA-DIR/admin.token")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca := c.String("ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, usage("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usage("--ca %s: no PEM certificate in it", ca)
		}
		tr.TLSClientConfig = pki.Harden(&tls.Config{RootCAs: pool})
	}
	return &adminClient{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: c.Duration("timeout")}}, nil
}

// raw sends a request and returns the response when its status is one of
// ok (any 2xx when ok is empty); otherwise it returns an *adminError with
// the node's message. The caller closes the body.
func (a *adminClient) raw(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string, ok ...int) (*http.Response, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s (is the node running? see --node / OSPNODE_NODE): %w", a.base, err)
	}
	good := resp.StatusCode/100 == 2
	if len(ok) > 0 {
		good = false
		for _, c := range ok {
			good = good || resp.StatusCode == c
		}
	}
	if good {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if strings.HasPrefix(msg, "OSP requests are POSTed") {
		// The OSP listener's answer to anything but a POST.
		msg = fmt.Sprintf("%s is an OSP listener, not the admin API: give --node the admin URL (ospnode serve prints it; by default port 5046)", a.base)
	}
	return nil, &adminError{Status: resp.StatusCode, Msg: msg, Reason: e.Reason}
}

// do sends in (nil, or a value sent as JSON) and decodes the answer into
// out (nil: discarded).
func (a *adminClient) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := a.raw(ctx, method, path, q, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the node's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// adminRun builds the client and runs fn; an *adminError exits 1 with the
// node's message.
func adminRun(c *cli.Context, fn func(ctx context.Context, a *adminClient) error) error {
	if err := checkListOutput(c); err != nil {
		return err
	}
	a, err := newAdminClient(c)
	if err != nil {
		return err
	}
	return fn(c.Context, a)
}

// checkListOutput validates --output when the command has it.
func checkListOutput(c *cli.Context) error {
	switch o := c.String("output"); o {
	case "", "table", "json", "csv":
		return nil
	default:
		return usage("--output %q: want table, json or csv", o)
	}
}

// table is the table/CSV form of a result.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// printResult writes v as JSON, or t as CSV or an aligned table, per
// --output.
func printResult(c *cli.Context, v any, t *table) error {
	w := c.App.Writer
	switch c.String("output") {
	case "json":
		return writeJSON(w, v)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(t.head)
		_ = cw.WriteAll(t.rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// oneArg returns the single positional argument named what.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 || strings.TrimSpace(c.Args().First()) == "" {
		return "", usage("%s: give exactly one %s", c.Command.FullName(), what)
	}
	return c.Args().First(), nil
}

// pathEscape escapes an id for a URL path segment.
func pathEscape(s string) string { return url.PathEscape(s) }

// isAdminStatus reports whether err is an admin answer with status code.
func isAdminStatus(err error, code int) bool {
	var ae *adminError
	return errors.As(err, &ae) && ae.Status == code
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func jsonNewDecoder(resp *http.Response) *json.Decoder { return json.NewDecoder(resp.Body) }
