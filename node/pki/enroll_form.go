package pki

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// EnrollForm is one decoded request body of the OSP Toolkit's enroll tool:
// `operation=getcacert`, or `operation=request&nonce=…&username=…&
// password=…&device=…&customer=…&request=<url-encoded base64 PKCS#10>`.
type EnrollForm struct {
	Operation string // "getcacert" or "request"
	Nonce     string // opaque; the toolkit sends NUL bytes in it (%00)
	Username  string
	Password  string
	Device    string
	Customer  string
	CSR       []byte // DER PKCS#10, decoded from the request field
}

// ParseEnrollForm decodes a form body. It returns ErrEnrollForm (wrapped)
// for bad escapes, a repeated field, an unknown operation, or a request
// operation whose CSR is missing or not base64. It never panics.
func ParseEnrollForm(body []byte) (*EnrollForm, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrEnrollForm)
	}
	one := func(k string) (string, error) {
		v := vals[k]
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		}
		return "", fmt.Errorf("field %q given %d times: %w", k, len(v), ErrEnrollForm)
	}
	f := &EnrollForm{}
	for _, p := range []struct {
		k string
		v *string
	}{{"operation", &f.Operation}, {"nonce", &f.Nonce}, {"username", &f.Username},
		{"password", &f.Password}, {"device", &f.Device}, {"customer", &f.Customer}} {
		if *p.v, err = one(p.k); err != nil {
			return nil, err
		}
	}
	switch f.Operation {
	case "getcacert":
		return f, nil
	case "request":
	case "":
		return nil, fmt.Errorf("no operation: %w", ErrEnrollForm)
	default:
		return nil, fmt.Errorf("operation %q (want getcacert or request): %w", f.Operation, ErrEnrollForm)
	}
	req, err := one("request")
	if err != nil {
		return nil, err
	}
	// A client that forgot to escape '+' sends it raw, and form decoding
	// turns it into a space: base64 has no spaces, so put the '+' back.
	// Line breaks some encoders insert are dropped.
	req = strings.NewReplacer(" ", "+", "\r", "", "\n", "").Replace(req)
	if req == "" {
		return nil, fmt.Errorf("request operation without a request: %w", ErrEnrollForm)
	}
	der, err := base64.StdEncoding.DecodeString(req)
	if err != nil {
		return nil, fmt.Errorf("request field is not base64: %v: %w", err, ErrEnrollForm)
	}
	f.CSR = der
	return f, nil
}
