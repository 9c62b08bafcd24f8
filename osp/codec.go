package osp

// Decode parses an OSP XML document (bare XML, no HTTP framing) into a
// Message. It accepts the toolkit's "z" element spellings and the ETSI "s"
// spellings, trims leaf text, decodes base64 values, ignores unknown
// elements marked critical="false" and refuses other unknown elements.
// lim bounds the input before any tree is built (zero fields take
// DefaultLimits). Every failure is an *Error carrying the OSP status code
// to answer with; Decode never panics. It is safe for concurrent use.
func Decode(b []byte, lim Limits) (*Message, error) {
	return decode(b, lim)
}

// Encode returns the XML form of m that the OSP Toolkit accepts (the rules
// of design/OSP-WIRE.md: <Message> wrapper, no whitespace in leaf values,
// UTC timestamps without fractions, a Status on every response, Unit "s").
// It fails with an *Error wrapping ErrEncode when m cannot be encoded so
// (no component, two pointers in one component, a Destination without
// signal address, token or Call-ID, a TransactionId ≥ 2^63). Safe for
// concurrent use.
func Encode(m *Message) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 2048), m)
}

// AppendEncode appends the encoding of m to dst and returns the extended
// buffer (see Encode). On error dst is returned unextended.
func AppendEncode(dst []byte, m *Message) ([]byte, error) {
	return appendMessage(dst, m)
}
