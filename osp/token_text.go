package osp

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"time"
)

// The "V=1" text token: "k=value" lines ending in LF, keys V r c C i a u I A
// d D o e and no other. The toolkit reads each line with sscanf("%s") into a
// 200-byte buffer, so values carry no whitespace and a line stays under 200
// bytes; both are enforced on issue and on parse.

const (
	tokenTimeLayout = "2006-01-02T15:04:05Z"
	tokenMaxLine    = 199 // toolkit buffer is 200 bytes including the NUL
	tokenTextPrefix = "V=1\n"
	tokenMaxTxID    = 1<<63 - 1
)

func tokenTextSizeHint(c *TokenClaims) int {
	return 160 + len(c.Random) + len(c.Calling) + len(c.Called) + len(c.CallID)*4/3 +
		len(c.DestinationAddress) + len(c.Protocol) + len(c.OSPVersion) + len(c.DestinationNetworkID)
}

// validate checks that the toolkit can read c back.
func (c *TokenClaims) validate() error {
	if c.Calling == "" || c.Called == "" {
		return tokenErrf(TokenCheckFormat, "calling and called numbers are required")
	}
	if len(c.CallID) == 0 {
		return tokenErrf(TokenCheckFormat, "call-id is required (use %q to match any)", TokenCallIDUndefined)
	}
	if c.ValidAfter.IsZero() || c.ValidUntil.IsZero() {
		return tokenErrf(TokenCheckFormat, "validity times are required")
	}
	if c.ValidUntil.Before(c.ValidAfter) {
		return tokenErrf(TokenCheckFormat, "valid-until %s is before valid-after %s",
			c.ValidUntil.UTC().Format(tokenTimeLayout), c.ValidAfter.UTC().Format(tokenTimeLayout))
	}
	if y := c.ValidUntil.UTC().Year(); y > 9999 || c.ValidAfter.UTC().Year() < 1970 {
		return tokenErrf(TokenCheckFormat, "validity outside 1970..9999")
	}
	if c.TransactionID > tokenMaxTxID {
		return tokenErrf(TokenCheckFormat, "transaction id %d is not below 2^63", c.TransactionID)
	}
	if c.AuthorisedSeconds < 0 || c.AuthorisedSeconds > 1<<31-1 {
		return tokenErrf(TokenCheckFormat, "authorised seconds %d out of range", c.AuthorisedSeconds)
	}
	for _, f := range [...]struct {
		k byte
		v string
	}{{'r', c.Random}, {'c', c.Calling}, {'C', c.Called}, {'d', c.DestinationAddress},
		{'D', c.Protocol}, {'o', c.OSPVersion}, {'e', c.DestinationNetworkID}} {
		if len(f.v)+2 > tokenMaxLine {
			return tokenErrf(TokenCheckFormat, "field %c is %d bytes, over the toolkit's limit", f.k, len(f.v))
		}
		if i := tokenBadByte(f.v); i >= 0 {
			return tokenErrf(TokenCheckFormat, "field %c has whitespace or a control byte at %d", f.k, i)
		}
	}
	if base64.StdEncoding.EncodedLen(len(c.CallID))+2 > tokenMaxLine {
		return tokenErrf(TokenCheckFormat, "call-id is %d bytes, over the toolkit's limit", len(c.CallID))
	}
	return nil
}

// tokenBadByte returns the index of the first whitespace or control byte
// (which the toolkit's sscanf would split on or choke on), or -1.
func tokenBadByte(s string) int {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return i
		}
	}
	return -1
}

// appendTokenText appends the text form of c to b.
func appendTokenText(b []byte, c *TokenClaims) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b = append(b, tokenTextPrefix...)
	b = append(b, "r="...)
	b = append(b, c.Random...)
	b = append(b, "\nc="...)
	b = append(b, c.Calling...)
	b = append(b, "\nC="...)
	b = append(b, c.Called...)
	b = append(b, "\ni="...)
	b = base64.StdEncoding.AppendEncode(b, c.CallID)
	b = append(b, "\na="...)
	b = c.ValidAfter.UTC().AppendFormat(b, tokenTimeLayout)
	b = append(b, "\nu="...)
	b = c.ValidUntil.UTC().AppendFormat(b, tokenTimeLayout)
	b = append(b, "\nI="...)
	b = strconv.AppendUint(b, c.TransactionID, 10)
	b = append(b, "\nA="...)
	b = strconv.AppendInt(b, int64(c.AuthorisedSeconds), 10)
	b = append(b, '\n')
	for _, f := range [...]struct {
		k byte
		v string
	}{{'d', c.DestinationAddress}, {'D', c.Protocol}, {'o', c.OSPVersion}, {'e', c.DestinationNetworkID}} {
		if f.v != "" {
			b = append(b, f.k, '=')
			b = append(b, f.v...)
			b = append(b, '\n')
		}
	}
	return b, nil
}

// parseTokenText parses a "V=1" token. Every line is "k=value" with a known
// key, at most once; the last LF may be missing; CR, spaces or an empty line
// are format errors.
func parseTokenText(tok []byte) (*TokenClaims, error) {
	if !bytes.HasPrefix(tok, []byte(tokenTextPrefix)) {
		return nil, tokenErrf(TokenCheckFormat, "text token does not start with V=1 and LF")
	}
	var c TokenClaims
	var seen [128]bool
	rest := tok
	line := 0
	for len(rest) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			l, rest = rest, nil
		}
		if len(l) > tokenMaxLine {
			return nil, tokenErrf(TokenCheckFormat, "text token line %d is %d bytes, over the toolkit's limit", line, len(l))
		}
		if len(l) < 2 || l[1] != '=' {
			return nil, tokenErrf(TokenCheckFormat, "text token line %d is not k=value", line)
		}
		k, v := l[0], string(l[2:])
		if i := tokenBadByte(v); i >= 0 {
			return nil, tokenErrf(TokenCheckFormat, "text token line %d (%c) has whitespace or a control byte", line, k)
		}
		if k >= 128 {
			return nil, tokenErrf(TokenCheckFormat, "text token line %d has unknown key %q", line, k)
		}
		if seen[k] {
			return nil, tokenErrf(TokenCheckFormat, "text token line %d repeats key %q", line, k)
		}
		seen[k] = true
		var err error
		switch k {
		case 'V':
			if v != "1" {
				err = tokenErrf(TokenCheckFormat, "text token version %q, want 1", v)
			}
		case 'r':
			c.Random = v
		case 'c':
			c.Calling = v
		case 'C':
			c.Called = v
		case 'i':
			c.CallID, err = base64.StdEncoding.DecodeString(v)
			if err != nil {
				err = tokenErrf(TokenCheckFormat, "text token call-id: %v", err)
			}
		case 'a':
			c.ValidAfter, err = tokenParseTime(v)
		case 'u':
			c.ValidUntil, err = tokenParseTime(v)
		case 'I':
			c.TransactionID, err = tokenParseTxID(v)
		case 'A':
			c.AuthorisedSeconds, err = tokenParseSeconds(v)
		case 'd':
			c.DestinationAddress = v
		case 'D':
			c.Protocol = v
		case 'o':
			c.OSPVersion = v
		case 'e':
			c.DestinationNetworkID = v
		default:
			err = tokenErrf(TokenCheckFormat, "text token line %d has unknown key %q", line, k)
		}
		if err != nil {
			return nil, err
		}
	}
	return &c, nil
}

func tokenParseTime(v string) (time.Time, error) {
	if len(v) != len(tokenTimeLayout) {
		return time.Time{}, tokenErrf(TokenCheckFormat, "timestamp %q is not YYYY-MM-DDThh:mm:ssZ", v)
	}
	t, err := time.Parse(tokenTimeLayout, v)
	if err != nil {
		return time.Time{}, tokenErrf(TokenCheckFormat, "timestamp %q is not YYYY-MM-DDThh:mm:ssZ", v)
	}
	return t, nil
}

func tokenParseTxID(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > tokenMaxTxID || v[0] == '+' {
		return 0, tokenErrf(TokenCheckFormat, "transaction id %q is not a decimal below 2^63", v)
	}
	return n, nil
}

func tokenParseSeconds(v string) (int, error) {
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil || v[0] == '+' {
		return 0, tokenErrf(TokenCheckFormat, "authorised seconds %q is not a small decimal", v)
	}
	return int(n), nil
}

// check compares the claims with the INVITE's values at now.
func (c *TokenClaims) check(calling, called string, callID []byte, now time.Time) error {
	now = now.Truncate(time.Second) // the toolkit compares whole seconds (time(NULL))
	if c.Calling != calling {
		return tokenErrf(TokenCheckCalling, "token calling %q, call has %q", c.Calling, calling)
	}
	if c.Called != called {
		return tokenErrf(TokenCheckCalled, "token called %q, call has %q", c.Called, called)
	}
	if string(c.CallID) != TokenCallIDUndefined && !bytes.Equal(c.CallID, callID) {
		return tokenErrf(TokenCheckCallID, "token call-id %q, call has %q", c.CallID, callID)
	}
	if now.Before(c.ValidAfter) {
		return tokenErrf(TokenCheckNotYetValid, "valid after %s, now %s",
			c.ValidAfter.UTC().Format(tokenTimeLayout), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.ValidUntil) {
		return tokenErrf(TokenCheckExpired, "valid until %s, now %s",
			c.ValidUntil.UTC().Format(tokenTimeLayout), now.UTC().Format(time.RFC3339))
	}
	return nil
}
