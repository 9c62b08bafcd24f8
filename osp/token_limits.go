package osp

import "encoding/base64"

// What a token can carry. The toolkit reads each line of a text token with
// sscanf("%s") into a 200-byte buffer, and every token kind is checked
// against the same rules on issue (so that a claim that fits one kind fits
// all): a server must refuse a request whose numbers or Call-ID cannot be
// carried before it commits anything, instead of failing every token after.
const (
	// MaxTokenNumberBytes is the longest calling or called number a token
	// carries: a "c=" or "C=" line of at most 199 bytes.
	MaxTokenNumberBytes = tokenMaxLine - 2
	// MaxTokenCallIDBytes is the longest Call-ID a token carries: its
	// base64 on an "i=" line of at most 199 bytes (4·⌈n/3⌉ ≤ 197).
	MaxTokenCallIDBytes = (tokenMaxLine - 2) / 4 * 3
)

// ValidateTokenClaims reports whether a token with claims c can be issued
// and read back by the toolkit: the checks Issue makes before encoding.
// The error is a *TokenError with check TokenCheckFormat. It does not
// modify c and is safe for concurrent use.
func ValidateTokenClaims(c *TokenClaims) error { return c.validate() }

// CheckTokenNumber reports why number cannot be a token's calling or
// called number (empty, over MaxTokenNumberBytes, or with whitespace or a
// control byte), or nil when it can. The error is a *TokenError with check
// TokenCheckFormat.
func CheckTokenNumber(number string) error {
	switch {
	case number == "":
		return tokenErrf(TokenCheckFormat, "number is empty")
	case len(number) > MaxTokenNumberBytes:
		return tokenErrf(TokenCheckFormat, "number is %d bytes, over the toolkit's %d", len(number), MaxTokenNumberBytes)
	}
	if i := tokenBadByte(number); i >= 0 {
		return tokenErrf(TokenCheckFormat, "number has whitespace or a control byte at %d", i)
	}
	return nil
}

// CheckTokenCallID reports why callID cannot be a token's Call-ID (over
// MaxTokenCallIDBytes), or nil when it can; an empty Call-ID is carried as
// TokenCallIDUndefined. The error is a *TokenError with check
// TokenCheckFormat.
func CheckTokenCallID(callID []byte) error {
	if base64.StdEncoding.EncodedLen(len(callID))+2 > tokenMaxLine {
		return tokenErrf(TokenCheckFormat, "call-id is %d bytes, over the toolkit's %d", len(callID), MaxTokenCallIDBytes)
	}
	return nil
}
