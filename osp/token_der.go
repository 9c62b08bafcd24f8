package osp

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"errors"
)

// A minimal DER writer and reader for PKCS#7 SignedData tokens. Hand-built
// because encoding/asn1 reflection (and smallstep/pkcs7 on top of it) costs
// most of the time of a signed token; the shapes here are few and fixed.

// Encoded object identifiers (tag, length and value).
var (
	tokenDEROIDData       = tokenDEROID(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1})
	tokenDEROIDSignedData = tokenDEROID(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2})
	tokenDERNull          = []byte{0x05, 0x00}
)

var (
	tokenOIDRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	tokenOIDECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	tokenOIDAttrContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	tokenOIDAttrMsgDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

// tokenDigestOIDs are the digest algorithms a token may use.
var tokenDigestOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 3, 14, 3, 2, 26},
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// tokenECDSASigOIDs are ecdsa-with-SHAx, what a signer writes for ECDSA.
var tokenECDSASigOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 2, 840, 10045, 4, 1},
	crypto.SHA256: {1, 2, 840, 10045, 4, 3, 2},
	crypto.SHA384: {1, 2, 840, 10045, 4, 3, 3},
	crypto.SHA512: {1, 2, 840, 10045, 4, 3, 4},
}

// tokenRSASigOIDs are shaXWithRSAEncryption, accepted in place of
// rsaEncryption.
var tokenRSASigOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1:   {1, 2, 840, 113549, 1, 1, 5},
	crypto.SHA256: {1, 2, 840, 113549, 1, 1, 11},
	crypto.SHA384: {1, 2, 840, 113549, 1, 1, 12},
	crypto.SHA512: {1, 2, 840, 113549, 1, 1, 13},
}

func tokenDEROID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic("osp: bad built-in OID " + oid.String()) // only called on constants
	}
	return b
}

// tokenDERLen is the full encoded size of a TLV whose value is n bytes.
func tokenDERLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n <= 0xff:
		return 3 + n
	case n <= 0xffff:
		return 4 + n
	case n <= 0xffffff:
		return 5 + n
	}
	return 6 + n
}

func tokenAppendHeader(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n <= 0xff:
		return append(b, tag, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, tag, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func tokenDERTLV(tag byte, v []byte) []byte {
	b := make([]byte, 0, tokenDERLen(len(v)))
	b = tokenAppendHeader(b, tag, len(v))
	return append(b, v...)
}

func tokenDERCat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

func tokenDERSeq(parts ...[]byte) []byte { return tokenDERTLV(0x30, tokenDERCat(parts...)) }

var errTokenDER = errors.New("malformed DER")

// tokenDERReader walks DER with single-byte tags and definite lengths only
// (BER indefinite lengths are refused: tokens are DER).
type tokenDERReader []byte

// next returns the next element's tag, value and the whole encoding.
func (r *tokenDERReader) next() (tag byte, val, full []byte, err error) {
	b := *r
	if len(b) < 2 {
		return 0, nil, nil, errTokenDER
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errTokenDER // multi-byte tags never occur here
	}
	n := int(b[1])
	hl := 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, errTokenDER
		}
		n = 0
		for i := 0; i < k; i++ {
			n = n<<8 | int(b[2+i])
		}
		if n < 0x80 || (k > 1 && b[2] == 0) { // non-minimal length: not DER
			return 0, nil, nil, errTokenDER
		}
		hl = 2 + k
	}
	if n < 0 || n > len(b)-hl {
		return 0, nil, nil, errTokenDER
	}
	full = b[:hl+n]
	val = b[hl : hl+n]
	*r = b[hl+n:]
	return tag, val, full, nil
}

// expect reads the next element and requires its tag.
func (r *tokenDERReader) expect(tag byte) (val, full []byte, err error) {
	t, v, f, err := r.next()
	if err != nil {
		return nil, nil, err
	}
	if t != tag {
		return nil, nil, errTokenDER
	}
	return v, f, nil
}

// peek returns the tag of the next element, or 0 at the end.
func (r *tokenDERReader) peek() byte {
	if len(*r) == 0 {
		return 0
	}
	return (*r)[0]
}

func (r *tokenDERReader) empty() bool { return len(*r) == 0 }

// tokenParseAlgID reads an AlgorithmIdentifier and returns its OID value
// bytes (without tag and length); parameters, if any, are ignored.
func tokenParseAlgID(r *tokenDERReader) ([]byte, error) {
	v, _, err := r.expect(0x30)
	if err != nil {
		return nil, err
	}
	in := tokenDERReader(v)
	oid, _, err := in.expect(0x06)
	if err != nil {
		return nil, err
	}
	return oid, nil
}
