package ledger

import (
	"crypto/sha256"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Field bounds of the commands that carry request data (Authorize version
// 2). A command over a bound is an Invalid result, never a panic: every
// value becomes part of a bbolt key or value, and a key over
// bolt.MaxKeySize fails the Put inside Apply, after the entry is committed
// in Raft, which must() turns into a panic on every replay. The bounds are
// far above what a token can carry (node refuses a Call-ID over
// osp.MaxTokenCallIDBytes, 147, before proposing) so that they are a
// backstop, not a policy.
const (
	// MaxCallIDBytes bounds a Call-ID (SIP sets no limit; the OSP
	// toolkit's token line carries at most 147 bytes).
	MaxCallIDBytes = 1024
	// MaxMessageIDBytes bounds an OSP messageId (an attribute: the OSP
	// decoder already refuses attributes over 256 bytes).
	MaxMessageIDBytes = 256
	// MaxNumberBytes bounds a calling or called number.
	MaxNumberBytes = 256
	// MaxAddressBytes bounds a destination's signalling address.
	MaxAddressBytes = 1024
	// MaxAuthorizeDestinations bounds the destinations of one Authorize.
	MaxAuthorizeDestinations = 64
)

// keyHashThreshold: a variable-length key component longer than this is
// replaced by its SHA-256 inside an index key (see keyComponent), so that
// index keys stay short whatever the field bounds are.
const keyHashThreshold = 64

// keyHashMark starts a hashed key component. 0xff never occurs in UTF-8,
// and version 2 commands refuse non-UTF-8 key fields, so a hashed
// component never equals a raw one.
const keyHashMark = 0xff

// keyComponent returns s as it goes into an index key: s itself when it
// is at most keyHashThreshold bytes, else 0xff followed by SHA-256(s).
func keyComponent(s string) string {
	if len(s) <= keyHashThreshold {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return string(append([]byte{keyHashMark}, h[:]...))
}

// keyFits reports whether every key can be stored by bbolt. Apply checks
// it before the first write of a command whose keys embed request fields,
// so that a key bbolt would refuse is an Invalid result and not a panic.
func keyFits(keys ...[]byte) bool {
	for _, k := range keys {
		if len(k) == 0 || len(k) > bolt.MaxKeySize {
			return false
		}
	}
	return true
}

// checkAuthorizeBounds returns an Invalid result when a field of a
// version 2 Authorize is over its bound or (for the fields inside keys)
// not UTF-8, and nil otherwise.
func checkAuthorizeBounds(c *Authorize) *Result {
	for _, f := range [...]struct {
		name string
		v    string
		max  int
		key  bool
	}{
		{"call id", c.CallID, MaxCallIDBytes, true},
		{"message id", c.MessageID, MaxMessageIDBytes, true},
		{"calling number", c.Calling, MaxNumberBytes, false},
		{"called number", c.Called, MaxNumberBytes, false},
	} {
		if len(f.v) > f.max {
			return invalid("authorize: %s is %d bytes (at most %d)", f.name, len(f.v), f.max)
		}
		if f.key && !utf8.ValidString(f.v) {
			return invalid("authorize: %s is not UTF-8", f.name)
		}
	}
	if c.UpstreamPeer != "" && !validID(c.UpstreamPeer) {
		return invalid("authorize: upstream peer id over %d bytes", maxIDLen)
	}
	if len(c.Destinations) > MaxAuthorizeDestinations {
		return invalid("authorize: %d destinations (at most %d)", len(c.Destinations), MaxAuthorizeDestinations)
	}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if len(d.ID) > maxIDLen || len(d.Kind) > maxIDLen || len(d.SellDeckID) > maxIDLen || len(d.BuyDeckID) > maxIDLen {
			return invalid("authorize: destination %d: an id is over %d bytes", i, maxIDLen)
		}
		if len(d.Address) > MaxAddressBytes || len(d.Called) > MaxNumberBytes {
			return invalid("authorize: destination %d: address or called number too long", i)
		}
	}
	return nil
}
