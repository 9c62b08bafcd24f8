package osp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	_ "crypto/sha1"   // digests a token may name
	_ "crypto/sha256" //
	_ "crypto/sha512" //
)

// tokenSignerInfo is what signature verification needs from a SignerInfo.
type tokenSignerInfo struct {
	hash        crypto.Hash
	sigAlg      string // value bytes of the signature algorithm OID
	signedAttrs []byte // the [0] IMPLICIT element's value, nil if absent
	signature   []byte
}

// OID value bytes (no tag, no length) → meaning, for fast lookups.
var (
	tokenDigestByOID = map[string]crypto.Hash{}
	tokenSigAlgOK    = map[string]bool{} // RSA and ECDSA algorithms we accept
	tokenSigAlgIsEC  = map[string]bool{}
	tokenOIDValData  = string(tokenDEROIDData[2:])
	tokenOIDValSD    = string(tokenDEROIDSignedData[2:])
	tokenOIDValCT    = string(tokenDEROID(tokenOIDAttrContentType)[2:])
	tokenOIDValMD    = string(tokenDEROID(tokenOIDAttrMsgDigest)[2:])
)

func init() {
	for h, oid := range tokenDigestOIDs {
		tokenDigestByOID[string(tokenDEROID(oid)[2:])] = h
	}
	for _, oid := range tokenECDSASigOIDs {
		k := string(tokenDEROID(oid)[2:])
		tokenSigAlgOK[k], tokenSigAlgIsEC[k] = true, true
	}
	for _, oid := range tokenRSASigOIDs {
		tokenSigAlgOK[string(tokenDEROID(oid)[2:])] = true
	}
	ec := string(tokenDEROID(tokenOIDECPublicKey)[2:])
	tokenSigAlgOK[ec], tokenSigAlgIsEC[ec] = true, true
	tokenSigAlgOK[string(tokenDEROID(tokenOIDRSAEncryption)[2:])] = true
}

func tokenFormatErr(what string, err error) *TokenError {
	return tokenErr(TokenCheckFormat, fmt.Errorf("pkcs7 %s: %w", what, err))
}

// parseTokenSigned takes a DER ContentInfo{signedData} apart: one signer,
// identified by issuer and serial, whose certificate is embedded; content
// attached, itself a text or XML token.
func parseTokenSigned(tok []byte) (*ParsedToken, error) {
	if len(tok) == 0 || tok[0] != 0x30 {
		return nil, tokenErrf(TokenCheckFormat, "token is neither V=1 text, TokenInfo XML nor DER PKCS#7")
	}
	r := tokenDERReader(tok)
	ci, _, err := r.expect(0x30)
	if err != nil || !r.empty() {
		return nil, tokenFormatErr("content info", errTokenDER)
	}
	in := tokenDERReader(ci)
	oid, _, err := in.expect(0x06)
	if err != nil || string(oid) != tokenOIDValSD {
		return nil, tokenFormatErr("content type", errors.New("not signedData"))
	}
	explicit, _, err := in.expect(0xA0)
	if err != nil || !in.empty() {
		return nil, tokenFormatErr("content info", errTokenDER)
	}
	ex := tokenDERReader(explicit)
	sd, _, err := ex.expect(0x30)
	if err != nil || !ex.empty() {
		return nil, tokenFormatErr("signed data", errTokenDER)
	}
	s := tokenDERReader(sd)
	if _, _, err := s.expect(0x02); err != nil { // version
		return nil, tokenFormatErr("version", err)
	}
	if _, _, err := s.expect(0x31); err != nil { // digestAlgorithms
		return nil, tokenFormatErr("digest algorithms", err)
	}
	eci, _, err := s.expect(0x30)
	if err != nil {
		return nil, tokenFormatErr("encapsulated content", err)
	}
	content, err := tokenParseEncap(eci)
	if err != nil {
		return nil, err
	}
	p := &ParsedToken{Kind: TokenSigned}
	if s.peek() == 0xA0 {
		certs, _, _ := s.expect(0xA0)
		cr := tokenDERReader(certs)
		for !cr.empty() {
			_, full, err := cr.expect(0x30)
			if err != nil {
				return nil, tokenFormatErr("certificates", err)
			}
			cert, err := x509.ParseCertificate(full)
			if err != nil {
				return nil, tokenFormatErr("certificate", err)
			}
			p.Certificates = append(p.Certificates, cert)
		}
	}
	if s.peek() == 0xA1 { // CRLs: not used by the toolkit
		if _, _, _, err := s.next(); err != nil {
			return nil, tokenFormatErr("crls", err)
		}
	}
	sis, _, err := s.expect(0x31)
	if err != nil || !s.empty() {
		return nil, tokenFormatErr("signer infos", errTokenDER)
	}
	sr := tokenDERReader(sis)
	si, _, err := sr.expect(0x30)
	if err != nil {
		return nil, tokenFormatErr("signer info", errors.New("no signer"))
	}
	if !sr.empty() {
		return nil, tokenFormatErr("signer info", errors.New("more than one signer"))
	}
	info, issuer, serial, err := tokenParseSignerInfo(si)
	if err != nil {
		return nil, err
	}
	for _, c := range p.Certificates {
		if bytes.Equal(c.RawIssuer, issuer) && c.SerialNumber.Cmp(serial) == 0 {
			p.Signer = c
			break
		}
	}
	if p.Signer == nil {
		return nil, tokenErrf(TokenCheckFormat, "pkcs7: the signer certificate (serial %x) is not embedded", serial)
	}
	p.sig = info
	p.DigestAlgorithm = info.hash
	p.SignedAttributes = info.signedAttrs != nil
	p.Content = append([]byte(nil), content...)
	var claims *TokenClaims
	switch tokenDetect(content) {
	case TokenText:
		p.ContentKind = TokenText
		claims, err = parseTokenText(content)
	case TokenXML:
		p.ContentKind = TokenXML
		claims, err = parseTokenXML(content)
	default:
		return nil, tokenErrf(TokenCheckFormat, "pkcs7: signed content is neither a V=1 nor a TokenInfo token")
	}
	if err != nil {
		return nil, err
	}
	p.Claims = *claims
	return p, nil
}

// tokenParseEncap returns the attached content of an EncapsulatedContentInfo.
func tokenParseEncap(eci []byte) ([]byte, error) {
	r := tokenDERReader(eci)
	oid, _, err := r.expect(0x06)
	if err != nil || string(oid) != tokenOIDValData {
		return nil, tokenFormatErr("content type", errors.New("not id-data"))
	}
	if r.empty() {
		return nil, tokenFormatErr("content", errors.New("detached content is not accepted"))
	}
	ex, _, err := r.expect(0xA0)
	if err != nil || !r.empty() {
		return nil, tokenFormatErr("content", errTokenDER)
	}
	er := tokenDERReader(ex)
	content, _, err := er.expect(0x04)
	if err != nil || !er.empty() {
		return nil, tokenFormatErr("content", errors.New("not a primitive OCTET STRING"))
	}
	return content, nil
}

// tokenParseSignerInfo reads SignerInfo{version 1, issuerAndSerialNumber,
// digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1]?}.
func tokenParseSignerInfo(si []byte) (*tokenSignerInfo, []byte, *big.Int, error) {
	r := tokenDERReader(si)
	ver, _, err := r.expect(0x02)
	if err != nil || len(ver) != 1 || ver[0] != 1 {
		return nil, nil, nil, tokenFormatErr("signer info", errors.New("version is not 1 (signer must be issuer+serial)"))
	}
	ias, _, err := r.expect(0x30)
	if err != nil {
		return nil, nil, nil, tokenFormatErr("issuer and serial", err)
	}
	ir := tokenDERReader(ias)
	_, issuer, err := ir.expect(0x30)
	if err != nil {
		return nil, nil, nil, tokenFormatErr("issuer", err)
	}
	sb, _, err := ir.expect(0x02)
	if err != nil || len(sb) == 0 || !ir.empty() {
		return nil, nil, nil, tokenFormatErr("serial", errTokenDER)
	}
	serial := new(big.Int).SetBytes(sb) // negative serials are not issued by x509
	dalg, err := tokenParseAlgID(&r)
	if err != nil {
		return nil, nil, nil, tokenFormatErr("digest algorithm", err)
	}
	info := &tokenSignerInfo{}
	h, ok := tokenDigestByOID[string(dalg)]
	if !ok {
		return nil, nil, nil, tokenErrf(TokenCheckFormat, "pkcs7: unsupported digest algorithm")
	}
	info.hash = h
	if r.peek() == 0xA0 {
		attrs, _, _ := r.expect(0xA0)
		info.signedAttrs = attrs
		if info.signedAttrs == nil {
			info.signedAttrs = []byte{}
		}
	}
	salg, err := tokenParseAlgID(&r)
	if err != nil {
		return nil, nil, nil, tokenFormatErr("signature algorithm", err)
	}
	if !tokenSigAlgOK[string(salg)] {
		return nil, nil, nil, tokenErrf(TokenCheckFormat, "pkcs7: unsupported signature algorithm")
	}
	info.sigAlg = string(salg)
	info.signature, _, err = r.expect(0x04)
	if err != nil {
		return nil, nil, nil, tokenFormatErr("signature", err)
	}
	if r.peek() == 0xA1 {
		r.next() //nolint:errcheck // unsigned attributes are ignored
	}
	if !r.empty() {
		return nil, nil, nil, tokenFormatErr("signer info", errors.New("trailing data"))
	}
	return info, issuer, serial, nil
}

// verify checks the signature over content (or over the signed attributes,
// whose message digest must then equal the content's) with cert's key.
func (si *tokenSignerInfo) verify(cert *x509.Certificate, content []byte) error {
	h := si.hash.New()
	h.Write(content)
	var buf [64]byte
	digest := h.Sum(buf[:0])
	if si.signedAttrs != nil {
		md, err := tokenCheckAttrs(si.signedAttrs)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(md, digest) != 1 {
			return tokenErrf(TokenCheckSignature, "message digest attribute does not match the content")
		}
		// The signature covers the attributes DER-encoded as a SET.
		h.Reset()
		var hdr [6]byte
		h.Write(tokenAppendHeader(hdr[:0], 0x31, len(si.signedAttrs)))
		h.Write(si.signedAttrs)
		var buf2 [64]byte
		digest = h.Sum(buf2[:0])
	}
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !tokenSigAlgIsEC[si.sigAlg] {
			return tokenErrf(TokenCheckSignature, "signature algorithm does not match the ECDSA signer key")
		}
		if !ecdsa.VerifyASN1(pub, digest, si.signature) {
			return tokenErrf(TokenCheckSignature, "ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if tokenSigAlgIsEC[si.sigAlg] {
			return tokenErrf(TokenCheckSignature, "signature algorithm does not match the RSA signer key")
		}
		if err := rsa.VerifyPKCS1v15(pub, si.hash, digest, si.signature); err != nil {
			return tokenErrf(TokenCheckSignature, "RSA signature does not verify: %v", err)
		}
	default:
		return tokenErrf(TokenCheckSignature, "unsupported signer key type %T", pub)
	}
	return nil
}

// tokenCheckAttrs walks the signed attributes: content-type, if present, must
// be id-data; message-digest must be present once. It returns the digest.
func tokenCheckAttrs(attrs []byte) ([]byte, error) {
	var md []byte
	r := tokenDERReader(attrs)
	for !r.empty() {
		a, _, err := r.expect(0x30)
		if err != nil {
			return nil, tokenFormatErr("signed attributes", err)
		}
		ar := tokenDERReader(a)
		oid, _, err := ar.expect(0x06)
		if err != nil {
			return nil, tokenFormatErr("signed attribute", err)
		}
		vals, _, err := ar.expect(0x31)
		if err != nil {
			return nil, tokenFormatErr("signed attribute values", err)
		}
		vr := tokenDERReader(vals)
		switch string(oid) {
		case tokenOIDValMD:
			v, _, err := vr.expect(0x04)
			if err != nil || !vr.empty() || md != nil {
				return nil, tokenFormatErr("message digest attribute", errTokenDER)
			}
			md = v
		case tokenOIDValCT:
			v, _, err := vr.expect(0x06)
			if err != nil || string(v) != tokenOIDValData {
				return nil, tokenErrf(TokenCheckSignature, "content-type attribute is not id-data")
			}
		}
	}
	if md == nil {
		return nil, tokenErrf(TokenCheckSignature, "signed attributes lack a message digest")
	}
	return md, nil
}

// verifyTrust checks that the signer chains to roots at now (other embedded
// certificates may serve as intermediates) and that no certificate of the
// chain below the root is revoked.
func (p *ParsedToken) verifyTrust(roots *x509.CertPool, now time.Time, revoked func(*x509.Certificate) bool) error {
	if roots == nil {
		return tokenErrf(TokenCheckTrust, "no trusted CA configured")
	}
	opts := x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if len(p.Certificates) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range p.Certificates {
			if c != p.Signer {
				opts.Intermediates.AddCert(c)
			}
		}
	}
	chains, err := p.Signer.Verify(opts)
	if err != nil {
		return tokenErr(TokenCheckTrust, err)
	}
	if revoked != nil {
		for _, ch := range chains {
			for _, c := range ch[:len(ch)-1] {
				if revoked(c) {
					return tokenErrf(TokenCheckRevoked, "certificate %q serial %x is revoked", c.Subject.String(), c.SerialNumber)
				}
			}
		}
	}
	return nil
}
