package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/node/pki"
)

// caCommand is `ospnode ca`: the network's certificate authority on disk
// (init, issue, list, revoke, bundle) and the enrollment approval queue
// (pending, approve). Every flag also reads an OSPNODE_* variable.
func caCommand() *cli.Command {
	dir := &cli.StringFlag{Name: "dir", Usage: "CA directory", EnvVars: []string{"OSPNODE_CA_DIR"}, Required: true}
	output := &cli.StringFlag{Name: "output", Usage: "table or json", Value: "table", EnvVars: []string{"OSPNODE_OUTPUT"}}
	return &cli.Command{
		Name:  "ca",
		Usage: "manage the network certificate authority and enrollment requests",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create a CA in --dir (ECDSA P-256 unless --key rsa)",
				Flags: []cli.Flag{dir,
					&cli.StringFlag{Name: "key", Usage: "ecdsa, rsa (2048) or rsa3072", Value: "ecdsa", EnvVars: []string{"OSPNODE_CA_KEY"}},
					&cli.StringFlag{Name: "cn", Usage: "CA common name", Value: "ospnode network CA", EnvVars: []string{"OSPNODE_CA_CN"}},
					&cli.StringFlag{Name: "org", Usage: "CA organisation", EnvVars: []string{"OSPNODE_CA_ORG"}},
					&cli.IntFlag{Name: "days", Usage: "CA validity in days", Value: 3650, EnvVars: []string{"OSPNODE_CA_INIT_DAYS"}},
					&cli.BoolFlag{Name: "legacy-enrollment", Usage: "make the MD5 CA that only the OSP Toolkit's enroll tool needs (never a trust anchor; see node/pki docs)",
						EnvVars: []string{"OSPNODE_CA_LEGACY_ENROLLMENT"}},
				},
				Action: caInit,
			},
			{
				Name:  "issue",
				Usage: "issue a certificate and key: --kind member|peer|node|token",
				Flags: []cli.Flag{dir,
					&cli.StringFlag{Name: "kind", Usage: "member, peer, node or token (required)", Required: true, EnvVars: []string{"OSPNODE_CA_KIND"}},
					&cli.StringFlag{Name: "name", Usage: "subject common name (for --kind node: the node ID, --node-id of the node; it becomes the certificate's node identity) (required)", Required: true, EnvVars: []string{"OSPNODE_CA_NAME"}},
					&cli.StringFlag{Name: "org", Usage: "subject organisation", EnvVars: []string{"OSPNODE_CA_SUBJECT_ORG"}},
					&cli.StringSliceFlag{Name: "ip", Usage: "IP SAN (node, peer); repeatable", EnvVars: []string{"OSPNODE_CA_IP"}},
					&cli.StringSliceFlag{Name: "dns", Usage: "DNS SAN (node, peer); repeatable", EnvVars: []string{"OSPNODE_CA_DNS"}},
					&cli.IntFlag{Name: "days", Usage: "validity in days (0: 365, token 90)", EnvVars: []string{"OSPNODE_CA_DAYS"}},
					&cli.StringFlag{Name: "key", Usage: "ecdsa, rsa (2048) or rsa3072 (default: rsa for --kind member, since the OSP Toolkit loads only RSA keys for its client certificate; ecdsa otherwise, since the Kamailio osp module cannot send a token over 1,024 bytes and an RSA-2048 token is 1,355)", EnvVars: []string{"OSPNODE_CA_ISSUE_KEY"}},
					&cli.StringFlag{Name: "out", Usage: "write PREFIX.crt and PREFIX.key (0600) (required)", Required: true, EnvVars: []string{"OSPNODE_CA_OUT"}},
					&cli.DurationFlag{Name: "retire-previous", Usage: "kind token: keep earlier token keys in the bundle this long (the longest token validity), then drop them",
						EnvVars: []string{"OSPNODE_CA_RETIRE_PREVIOUS"}},
				},
				Action: caIssue,
			},
			{
				Name:   "list",
				Usage:  "list issued certificates",
				Flags:  []cli.Flag{dir, output},
				Action: caList,
			},
			{
				Name:  "revoke",
				Usage: "revoke a certificate by serial",
				Flags: []cli.Flag{dir,
					&cli.StringFlag{Name: "serial", Usage: "serial: decimal, 0x hex, or colon-separated hex (as openssl prints)", Required: true, EnvVars: []string{"OSPNODE_CA_SERIAL"}},
					&cli.StringFlag{Name: "reason", Usage: strings.Join(pki.RevocationReasons, ", "), Value: "unspecified", EnvVars: []string{"OSPNODE_CA_REASON"}},
				},
				Action: caRevoke,
			},
			{
				Name:   "bundle",
				Usage:  "print the PEM members install to validate tokens (CA + live token-signing certificates)",
				Flags:  []cli.Flag{dir},
				Action: caBundle,
			},
			{
				Name:   "pending",
				Usage:  "list enrollment requests awaiting approval",
				Flags:  []cli.Flag{dir, output},
				Action: caPending,
			},
			{
				Name:      "approve",
				Usage:     "approve a pending enrollment request; the device gets its certificate when it asks again",
				ArgsUsage: "ID",
				Flags: []cli.Flag{dir,
					&cli.StringFlag{Name: "out", Usage: "also write the certificate to PREFIX.crt", EnvVars: []string{"OSPNODE_CA_APPROVE_OUT"}},
				},
				Action: caApprove,
			},
		},
	}
}

// usage is a command-line mistake: exit code 2.
func usage(format string, args ...any) error { return cli.Exit(fmt.Sprintf(format, args...), 2) }

func openCA(c *cli.Context) (*pki.CA, error) {
	ca, err := pki.OpenCA(c.String("dir"))
	if errors.Is(err, pki.ErrNoCA) {
		return nil, fmt.Errorf("%w (create one with `ospnode ca init --dir %s`)", err, c.String("dir"))
	}
	return ca, err
}

func caInit(c *cli.Context) error {
	alg, err := pki.ParseKeyAlgorithm(c.String("key"))
	if err != nil {
		return usage("%v", err)
	}
	if c.Int("days") <= 0 {
		return usage("--days must be positive")
	}
	opts := pki.CAOptions{Key: alg, CommonName: c.String("cn"), Organization: c.String("org"),
		Validity: time.Duration(c.Int("days")) * 24 * time.Hour}
	var ca *pki.CA
	if c.Bool("legacy-enrollment") {
		if !c.IsSet("key") {
			opts.Key = pki.KeyRSA2048
		}
		if !c.IsSet("cn") {
			opts.CommonName = ""
		}
		ca, err = pki.InitLegacyEnrollmentCA(c.String("dir"), opts)
	} else {
		ca, err = pki.InitCA(c.String("dir"), opts)
	}
	if err != nil {
		return err
	}
	cert := ca.Certificate()
	_, err = fmt.Fprintf(c.App.Writer, "CA %q created in %s (%s, valid until %s)\n", cert.Subject.String(), ca.Dir(),
		cert.SignatureAlgorithm, cert.NotAfter.UTC().Format(time.RFC3339))
	return err
}

func caIssue(c *cli.Context) error {
	kind, err := pki.ParseKind(c.String("kind"))
	if err != nil {
		return usage("%v", err)
	}
	key := c.String("key")
	if key == "" {
		key = "ecdsa"
		if kind == pki.KindMember {
			key = "rsa" // the OSP Toolkit loads only RSA private keys for its own certificate
		}
	}
	alg, err := pki.ParseKeyAlgorithm(key)
	if err != nil {
		return usage("%v", err)
	}
	if kind == pki.KindTokenSigning && strings.HasPrefix(key, "rsa") {
		fmt.Fprintf(c.App.ErrWriter, "ospnode: warning: PKCS#7 tokens signed with an RSA key are over 1,024 bytes (1,355 with RSA-2048); "+
			"the Kamailio osp module cannot send them and the call fails with 503. Keep --key ecdsa unless every member's proxy takes them.\n")
	}
	if kind == pki.KindMember && !strings.HasPrefix(key, "rsa") {
		fmt.Fprintf(c.App.ErrWriter, "ospnode: warning: the OSP Toolkit (Kamailio, OpenSIPS, Asterisk and FreeSWITCH osp modules) loads only RSA keys for its own certificate: "+
			"a member proxy cannot use this %s key.\n", key)
	}
	if c.Int("days") < 0 {
		return usage("--days must not be negative")
	}
	var ips []net.IP
	for _, s := range c.StringSlice("ip") {
		ip := net.ParseIP(s)
		if ip == nil {
			return usage("--ip %q is not an IP address", s)
		}
		ips = append(ips, ip)
	}
	if (len(ips) > 0 || len(c.StringSlice("dns")) > 0) && kind != pki.KindNode && kind != pki.KindPeer {
		return usage("--ip and --dns apply to node and peer certificates, not %s", kind)
	}
	if c.IsSet("retire-previous") && kind != pki.KindTokenSigning {
		return usage("--retire-previous applies to --kind token")
	}
	ca, err := openCA(c)
	if err != nil {
		return err
	}
	req := pki.IssueRequest{Kind: kind, CommonName: c.String("name"), Organization: c.String("org"),
		IPs: ips, DNSNames: c.StringSlice("dns"), Validity: time.Duration(c.Int("days")) * 24 * time.Hour,
		Key: alg, OutPrefix: c.String("out")}
	var is *pki.Issued
	if kind == pki.KindTokenSigning && c.IsSet("retire-previous") {
		is, err = ca.RotateTokenSigning(req, c.Duration("retire-previous"))
	} else {
		is, err = ca.Issue(req)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "issued %s certificate serial %s for %q, valid until %s\n  %s\n  %s (mode 0600)\n",
		kind, pki.DescribeSerial(is.Serial), is.Cert.Subject.String(), is.Cert.NotAfter.UTC().Format(time.RFC3339), is.CertFile, is.KeyFile)
	return err
}

func checkOutput(c *cli.Context) error {
	switch c.String("output") {
	case "table", "json":
		return nil
	}
	return usage("--output %q: want table or json", c.String("output"))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func caList(c *cli.Context) error {
	if err := checkOutput(c); err != nil {
		return err
	}
	ca, err := openCA(c)
	if err != nil {
		return err
	}
	recs, err := ca.List()
	if err != nil {
		return err
	}
	if c.String("output") == "json" {
		// "serial" stays the index's decimal; serial_hex is what the
		// ledger and `ospnode cert revoke` show.
		type listed struct {
			pki.Record
			SerialHex string `json:"serial_hex"`
		}
		out := make([]listed, 0, len(recs))
		for _, r := range recs {
			out = append(out, listed{Record: r, SerialHex: recordSerialHex(r.Serial)})
		}
		return writeJSON(c.App.Writer, out)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tDECIMAL\tKIND\tSUBJECT\tNOT AFTER\tSTATUS")
	for _, r := range recs {
		status := "valid"
		switch {
		case r.Revoked:
			status = "revoked (" + r.Reason + ")"
		case time.Now().After(r.NotAfter):
			status = "expired"
		case !r.RetireAt.IsZero():
			status = "retiring " + r.RetireAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", recordSerialHex(r.Serial), r.Serial, r.Kind, r.Subject, r.NotAfter.Format(time.RFC3339), status)
	}
	return tw.Flush()
}

func caRevoke(c *cli.Context) error {
	serial, err := pki.ParseSerial(c.String("serial"))
	if err != nil {
		return usage("%v", err)
	}
	ca, err := openCA(c)
	if err != nil {
		return err
	}
	if err := ca.Revoke(serial, c.String("reason")); err != nil {
		if errors.Is(err, pki.ErrUnknownSerial) {
			return fmt.Errorf("%w (see `ospnode ca list --dir %s`)", err, c.String("dir"))
		}
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "revoked serial %s (%s)\n", pki.DescribeSerial(serial), c.String("reason"))
	return err
}

// recordSerialHex shows a CA index serial (decimal) in the 0x hex form
// every command prints; an unparsable index entry is shown as it is.
func recordSerialHex(decimal string) string {
	n, err := pki.ParseSerial(decimal)
	if err != nil {
		return decimal
	}
	return pki.FormatSerial(n)
}

func caBundle(c *cli.Context) error {
	ca, err := openCA(c)
	if err != nil {
		return err
	}
	b, err := ca.Bundle()
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(b)
	return err
}

func caPending(c *cli.Context) error {
	if err := checkOutput(c); err != nil {
		return err
	}
	ca, err := openCA(c)
	if err != nil {
		return err
	}
	ps, err := ca.Pending()
	if err != nil {
		return err
	}
	if c.String("output") == "json" {
		type row struct {
			ID, Subject, Username, Device, Customer string
			Kind                                    pki.Kind
			Received                                time.Time
		}
		rows := []row{}
		for _, p := range ps {
			rows = append(rows, row{p.ID, p.Subject, p.Username, p.Device, p.Customer, p.Kind, p.Received})
		}
		return writeJSON(c.App.Writer, rows)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tKIND\tSUBJECT\tUSERNAME\tDEVICE\tCUSTOMER")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%q\t%q\t%q\n", p.ID, p.Received.Format(time.RFC3339), p.Kind, p.Subject,
			p.Username, p.Device, p.Customer)
	}
	return tw.Flush()
}

func caApprove(c *cli.Context) error {
	if c.NArg() != 1 {
		return usage("give exactly one pending request ID (see `ospnode ca pending`)")
	}
	ca, err := openCA(c)
	if err != nil {
		return err
	}
	is, err := ca.Approve(c.Args().First())
	if err != nil {
		return err
	}
	if out := c.String("out"); out != "" {
		if err := is.WriteFiles(out); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(c.App.Writer, "approved %s: serial %s for %q\n", c.Args().First(), pki.DescribeSerial(is.Serial), is.Cert.Subject.String())
	return err
}
