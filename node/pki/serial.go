package pki

import (
	"fmt"
	"math/big"
	"strings"
)

// maxSerialText bounds what ParseSerial reads: RFC 5280 serials are at
// most 20 octets (60 characters colon-separated); a little slack for
// non-conforming CAs, none for pasted junk.
const maxSerialText = 128

// ParseSerial parses a certificate serial in any form an operator has at
// hand, so every command accepts the same thing:
//
//   - decimal digits: "4242" (what this CA's index and issued/ file names
//     use; all-digit text is always decimal);
//   - hex with a 0x prefix: "0x1092";
//   - colon-separated hex bytes, as openssl and browsers print: "10:92";
//   - bare hex containing a letter a–f: "1a92" (cannot be decimal; the
//     form the ledger stores, see ledger.NormalizeSerial).
//
// Surrounding space is ignored, hex is case-insensitive. The serial must
// be positive. Errors wrap ErrBadSerial. Safe for concurrent use.
func ParseSerial(s string) (*big.Int, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := func(why string) (*big.Int, error) {
		return nil, fmt.Errorf("serial %q: %s (want decimal, 0x-prefixed hex or colon-separated hex): %w", in, why, ErrBadSerial)
	}
	if len(s) > maxSerialText {
		return bad("too long")
	}
	if s == "" {
		return bad("empty")
	}
	digits, base := s, 10
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		digits, base = s[2:], 16
	case strings.Contains(s, ":"):
		parts := strings.Split(s, ":")
		for _, p := range parts {
			if len(p) == 0 || len(p) > 2 {
				return bad("colon-separated form wants 1 or 2 hex digits between colons")
			}
		}
		digits, base = strings.Join(parts, ""), 16
	case strings.ContainsAny(s, "abcdefABCDEF"):
		base = 16
	}
	if digits == "" {
		return bad("no digits")
	}
	for _, c := range digits {
		if !isDigit(c, base) {
			return bad(fmt.Sprintf("%q is not a base-%d digit", c, base))
		}
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return bad("not a number")
	}
	if n.Sign() <= 0 {
		return bad("not positive")
	}
	return n, nil
}

func isDigit(c rune, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		return true
	}
	return false
}

// FormatSerial prints a serial the way every command shows it: lower-case
// hex with a 0x prefix, so that pasting it back into any command (which
// reads all-digit text as decimal) names the same certificate. The hex
// digits after the prefix are ledger.NormalizeSerial's form. nil prints
// as "-".
func FormatSerial(n *big.Int) string {
	if n == nil {
		return "-"
	}
	return "0x" + n.Text(16)
}

// DescribeSerial is FormatSerial plus the decimal form, for messages an
// operator may match against this CA's index or issued/<decimal>.crt:
// "0x2a (decimal 42)".
func DescribeSerial(n *big.Int) string {
	if n == nil {
		return "-"
	}
	return FormatSerial(n) + " (decimal " + n.String() + ")"
}
