package cmd

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// tokenCommand is `ospnode token`: look inside and verify OSP tokens offline,
// as a terminating proxy's toolkit would.
func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "inspect and verify OSP tokens (V=1 text, TokenInfo XML, PKCS#7 SignedData)",
		Subcommands: []*cli.Command{
			{
				Name:      "inspect",
				Usage:     "print a token's kind, claims and signer as JSON (no trust check)",
				ArgsUsage: "FILE|-  (raw token bytes, or the base64 text of a <Token> element)",
				Action:    tokenInspect,
			},
			{
				Name:      "verify",
				Usage:     "verify a token as the terminating proxy would; exit 1 naming the failed check",
				ArgsUsage: "FILE|-",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "ca", Usage: "PEM file of trusted CA certificate(s); repeatable", EnvVars: []string{"OSPNODE_TOKEN_CA"}},
					&cli.StringFlag{Name: "calling", Usage: "calling number of the INVITE", Required: true},
					&cli.StringFlag{Name: "called", Usage: "called number of the INVITE", Required: true},
					&cli.StringFlag{Name: "call-id", Usage: "SIP Call-ID of the INVITE", Required: true},
					&cli.StringFlag{Name: "now", Usage: "check validity at this RFC 3339 time instead of the clock"},
					&cli.BoolFlag{Name: "accept-unsigned", Usage: "accept text and XML tokens (Kamailio token_format 2)"},
				},
				Action: tokenVerify,
			},
		},
	}
}

// readTokenArg reads FILE or stdin ("-") and returns the token bytes: the
// input as is if it parses, else its base64 decoding.
func readTokenArg(c *cli.Context) ([]byte, error) {
	if c.NArg() != 1 {
		return nil, cli.Exit("give exactly one FILE, or - for stdin", 2)
	}
	name := c.Args().First()
	var raw []byte
	var err error
	if name == "-" {
		r := c.App.Reader
		if r == nil {
			r = os.Stdin
		}
		raw, err = io.ReadAll(io.LimitReader(r, 1<<20))
	} else {
		raw, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	if _, perr := osp.ParseToken(raw); perr == nil {
		return raw, nil
	}
	trimmed := bytes.Join(bytes.Fields(raw), nil)
	if dec, derr := base64.StdEncoding.DecodeString(string(trimmed)); derr == nil && len(dec) > 0 {
		return dec, nil
	}
	return raw, nil // let the parser say what is wrong with it
}

type tokenClaimsJSON struct {
	Random               string `json:"random"`
	Calling              string `json:"calling"`
	Called               string `json:"called"`
	CallID               string `json:"call_id,omitempty"`
	CallIDBase64         string `json:"call_id_base64"`
	ValidAfter           string `json:"valid_after"`
	ValidUntil           string `json:"valid_until"`
	TransactionID        uint64 `json:"transaction_id"`
	AuthorisedSeconds    int    `json:"authorised_seconds"`
	DestinationAddress   string `json:"destination_address,omitempty"`
	Protocol             string `json:"protocol,omitempty"`
	OSPVersion           string `json:"osp_version,omitempty"`
	DestinationNetworkID string `json:"destination_network_id,omitempty"`
}

type tokenCertJSON struct {
	Subject   string `json:"subject"`
	Issuer    string `json:"issuer"`
	Serial    string `json:"serial"`
	NotBefore string `json:"not_before"`
	NotAfter  string `json:"not_after"`
}

type tokenSignatureJSON struct {
	Digest           string          `json:"digest"`
	SignedAttributes bool            `json:"signed_attributes"`
	Valid            bool            `json:"valid"`
	Error            string          `json:"error,omitempty"`
	Signer           tokenCertJSON   `json:"signer"`
	Certificates     []tokenCertJSON `json:"certificates"`
}

type tokenInspectJSON struct {
	Kind        string              `json:"kind"`
	ContentKind string              `json:"content_kind"`
	Claims      tokenClaimsJSON     `json:"claims"`
	Content     string              `json:"content"`
	Signature   *tokenSignatureJSON `json:"signature,omitempty"`
}

func claimsJSON(c *osp.TokenClaims) tokenClaimsJSON {
	j := tokenClaimsJSON{
		Random: c.Random, Calling: c.Calling, Called: c.Called,
		CallIDBase64:  base64.StdEncoding.EncodeToString(c.CallID),
		ValidAfter:    c.ValidAfter.UTC().Format(time.RFC3339),
		ValidUntil:    c.ValidUntil.UTC().Format(time.RFC3339),
		TransactionID: c.TransactionID, AuthorisedSeconds: c.AuthorisedSeconds,
		DestinationAddress: c.DestinationAddress, Protocol: c.Protocol,
		OSPVersion: c.OSPVersion, DestinationNetworkID: c.DestinationNetworkID,
	}
	if utf8.Valid(c.CallID) {
		j.CallID = string(c.CallID)
	}
	return j
}

func certJSON(c *x509.Certificate) tokenCertJSON {
	return tokenCertJSON{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Serial:    pki.FormatSerial(c.SerialNumber),
		NotBefore: c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:  c.NotAfter.UTC().Format(time.RFC3339),
	}
}

func tokenInspect(c *cli.Context) error {
	tok, err := readTokenArg(c)
	if err != nil {
		return err
	}
	p, err := osp.ParseToken(tok)
	if err != nil {
		return cli.Exit(fmt.Sprintf("token inspect: %v", err), 1)
	}
	out := tokenInspectJSON{
		Kind: p.Kind.String(), ContentKind: p.ContentKind.String(),
		Claims: claimsJSON(&p.Claims), Content: string(p.Content),
	}
	if p.Kind == osp.TokenSigned {
		s := &tokenSignatureJSON{
			Digest: p.DigestAlgorithm.String(), SignedAttributes: p.SignedAttributes,
			Signer: certJSON(p.Signer),
		}
		if err := p.VerifySignature(); err != nil {
			s.Error = err.Error()
		} else {
			s.Valid = true
		}
		for _, cert := range p.Certificates {
			s.Certificates = append(s.Certificates, certJSON(cert))
		}
		out.Signature = s
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// loadCAs reads every CERTIFICATE block of the PEM files.
func loadCAs(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("CA %s: %w", f, err)
			}
			pool.AddCert(cert)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("CA %s: no PEM CERTIFICATE in it", f)
		}
	}
	return pool, nil
}

func tokenVerify(c *cli.Context) error {
	tok, err := readTokenArg(c)
	if err != nil {
		return err
	}
	roots, err := loadCAs(c.StringSlice("ca"))
	if err != nil {
		return cli.Exit("token verify: "+err.Error(), 2)
	}
	opts := osp.TokenVerifyOptions{
		Roots:   roots,
		Calling: c.String("calling"), Called: c.String("called"),
		CallID:         []byte(c.String("call-id")),
		AcceptUnsigned: c.Bool("accept-unsigned"),
	}
	if s := c.String("now"); s != "" {
		opts.Now, err = time.Parse(time.RFC3339, s)
		if err != nil {
			return cli.Exit(fmt.Sprintf("token verify: --now %q is not RFC 3339", s), 2)
		}
	}
	claims, err := osp.VerifyToken(tok, opts)
	if err != nil {
		var te *osp.TokenError
		if errors.As(err, &te) {
			return cli.Exit(fmt.Sprintf("token verify: %s check failed: %v", te.Check, te.Err), 1)
		}
		return cli.Exit("token verify: "+err.Error(), 1)
	}
	p, _ := osp.ParseToken(tok) // already verified: cannot fail
	out := struct {
		Valid  bool            `json:"valid"`
		Kind   string          `json:"kind"`
		Claims tokenClaimsJSON `json:"claims"`
	}{true, p.Kind.String(), claimsJSON(claims)}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
