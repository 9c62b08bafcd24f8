package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/osp"
)

// ospCommand is `ospnode osp`: tools for OSP messages as the toolkit sends
// them.
func ospCommand() *cli.Command {
	return &cli.Command{
		Name:  "osp",
		Usage: "work with OSP (ETSI TS 101 321) messages",
		Subcommands: []*cli.Command{
			{
				Name:  "decode",
				Usage: "decode a raw HTTP request/response (as captured) or bare OSP XML and print it",
				Description: "Reads FILE (or stdin for -): a raw HTTP exchange such as the interop captures " +
					"(text/plain or multipart/signed body), or bare XML. Prints the decoded message with " +
					"trimmed values and Call-IDs/tokens as text (binary values as {\"base64\": …}). " +
					"--output xml prints the message as ospnode would encode it.",
				ArgsUsage: "FILE|-",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "json", Usage: "json or xml", EnvVars: []string{"OSPNODE_OUTPUT"}},
				},
				Action: ospDecode,
			},
		},
	}
}

// decodedExchange is the JSON document `osp decode` prints.
type decodedExchange struct {
	Framing     string       `json:"framing"` // http-request, http-response or xml
	Method      string       `json:"method,omitempty"`
	Path        string       `json:"path,omitempty"`
	Status      string       `json:"httpStatus,omitempty"`
	ContentType string       `json:"contentType,omitempty"`
	Message     *osp.Message `json:"message"`
}

func ospDecode(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("give exactly one FILE, or - for stdin", 2)
	}
	out := c.String("output")
	if out != "json" && out != "xml" {
		return cli.Exit(fmt.Sprintf("--output %q: want json or xml", out), 2)
	}
	var r io.Reader
	if name := c.Args().First(); name == "-" {
		r = c.App.Reader
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		defer f.Close()
		r = f
	}
	lim := osp.DefaultLimits()
	raw, err := io.ReadAll(io.LimitReader(r, lim.MaxBodyBytes+64<<10))
	if err != nil {
		return cli.Exit(fmt.Sprintf("reading input: %v", err), 1)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return cli.Exit("the input is empty: give a file holding an OSP message (XML), or an HTTP request or response carrying one", 1)
	}
	ex, err := decodeExchange(raw, lim)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	w := c.App.Writer
	if out == "xml" {
		b, err := osp.Encode(ex.Message)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	dropEmptyStructs(reflect.ValueOf(ex.Message))
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(ex)
}

// dropEmptyStructs sets to nil, throughout v, every pointer to a struct
// whose fields are all zero, so that the JSON view omits it instead of
// printing {}: the toolkit sends <Service/> empty in every UsageDetail,
// and the decoded model keeps it (so --output xml reproduces it), but
// "service": {} tells a reader nothing. Only for printing JSON: it
// changes the message in place.
func dropEmptyStructs(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			dropEmptyStructs(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			dropEmptyStructs(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			if !v.Type().Field(i).IsExported() {
				continue
			}
			dropEmptyStructs(f)
			if f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.Struct && f.Elem().IsZero() && f.CanSet() {
				f.SetZero()
			}
		}
	}
}

// decodeExchange recognises a raw HTTP response ("HTTP/…"), a raw HTTP
// request ("POST …") or bare XML, and decodes the OSP body.
func decodeExchange(raw []byte, lim osp.Limits) (*decodedExchange, error) {
	ex := &decodedExchange{Framing: "xml"}
	body := raw
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte("HTTP/")):
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(trimmed)), nil)
		if err != nil {
			return nil, fmt.Errorf("http response: %w", err)
		}
		defer resp.Body.Close()
		if body, err = io.ReadAll(resp.Body); err != nil {
			return nil, fmt.Errorf("http response body: %w", err)
		}
		ex.Framing, ex.Status, ex.ContentType = "http-response", resp.Status, resp.Header.Get("Content-Type")
	case len(trimmed) > 0 && trimmed[0] != '<':
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(trimmed)))
		if err != nil {
			return nil, fmt.Errorf("input is neither XML nor an HTTP exchange: %w", err)
		}
		defer req.Body.Close()
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, fmt.Errorf("http request body: %w", err)
		}
		ex.Framing, ex.Method, ex.Path, ex.ContentType = "http-request", req.Method, req.URL.RequestURI(), req.Header.Get("Content-Type")
	}
	m, err := osp.DecodeBody(ex.ContentType, body, lim)
	if err != nil {
		return nil, err
	}
	ex.Message = m
	return ex, nil
}
