package pki

import (
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// The OSP Toolkit's enroll tool parses certificates with an old X.509 parser
// that wants PrintableString names and an md5WithRSA signature. Go's
// crypto/x509 refuses to sign with MD5, so this file assembles the
// certificates with encoding/asn1 and signs the MD5 digest of the
// TBSCertificate with RSA PKCS#1 v1.5. See doc.go for why this CA is never
// the network's trust anchor.

var (
	oidMD5WithRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrgUnit          = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCountry          = asn1.ObjectIdentifier{2, 5, 4, 6}
	md5WithRSAAlgorithm = pkix.AlgorithmIdentifier{Algorithm: oidMD5WithRSA, Parameters: asn1.NullRawValue}
)

type legacyValidity struct {
	NotBefore, NotAfter time.Time // UTCTime until 2049, as asn1 marshals it
}

// legacyTBSv1 is a version 1 TBSCertificate (no version field, no
// extensions), the shape of the certificates in capture 13.
type legacyTBSv1 struct {
	Serial    *big.Int
	Signature pkix.AlgorithmIdentifier
	Issuer    asn1.RawValue
	Validity  legacyValidity
	Subject   asn1.RawValue
	PublicKey asn1.RawValue
}

// legacyTBSv3 is the CA's own version 3 TBSCertificate (capture 12 shape).
type legacyTBSv3 struct {
	Version    int `asn1:"explicit,tag:0"`
	Serial     *big.Int
	Signature  pkix.AlgorithmIdentifier
	Issuer     asn1.RawValue
	Validity   legacyValidity
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Extensions []pkix.Extension `asn1:"explicit,tag:3"`
}

type legacyCertificate struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

// isPrintableString reports whether s fits ASN.1 PrintableString.
func isPrintableString(s string) bool {
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == ' ' || r == '\'' || r == '(' || r == ')' || r == '+' || r == ',' ||
			r == '-' || r == '.' || r == '/' || r == ':' || r == '=' || r == '?':
		default:
			return false
		}
	}
	return true
}

// legacyName encodes a name with PrintableString values (CN, OU, O, C
// order, one attribute per RDN, as in the CA certificate of capture 12).
// A value outside PrintableString is an ErrBadRequest: the toolkit's parser
// would not read a UTF8String.
func legacyName(n pkix.Name) (asn1.RawValue, error) {
	var rdns []legacyRDNSET
	add := func(oid asn1.ObjectIdentifier, vals ...string) error {
		for _, v := range vals {
			if !isPrintableString(v) {
				return fmt.Errorf("name value %q is not a PrintableString: %w", v, ErrBadRequest)
			}
			rdns = append(rdns, legacyRDNSET{{oid, asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte(v)}}})
		}
		return nil
	}
	for _, a := range []struct {
		oid  asn1.ObjectIdentifier
		vals []string
	}{{oidCommonName, []string{n.CommonName}}, {oidOrgUnit, n.OrganizationalUnit},
		{oidOrganization, n.Organization}, {oidCountry, n.Country}} {
		if err := add(a.oid, a.vals...); err != nil {
			return asn1.RawValue{}, err
		}
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("encode name: %w", err)
	}
	return asn1.RawValue{FullBytes: der}, nil
}

// signMD5 wraps tbs into a Certificate signed with md5WithRSA.
func signMD5(tbs []byte, key *rsa.PrivateKey) ([]byte, error) {
	sum := md5.Sum(tbs)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.MD5, sum[:])
	if err != nil {
		return nil, fmt.Errorf("md5WithRSA sign: %w", err)
	}
	return asn1.Marshal(legacyCertificate{TBS: asn1.RawValue{FullBytes: tbs}, Algorithm: md5WithRSAAlgorithm,
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}

// InitLegacyEnrollmentCA creates, in dir, the md5WithRSA CA that the OSP
// Toolkit's enroll tool can parse: RSA 2048 (or RSA 3072 when opts.Key asks
// for it), PrintableString names, version 3 with basic constraints, key
// usage and subject key id, like capture 12. Call it only when enrollment
// for stock toolkits is explicitly enabled; keep dir apart from the network
// CA. The CA only signs enrollment CSRs (SignCSR, Approve); Issue returns
// ErrLegacyCA. Errors: ErrCAExists, ErrKeyType for a non-RSA key request,
// ErrBadRequest for a name outside PrintableString.
func InitLegacyEnrollmentCA(dir string, opts CAOptions) (*CA, error) {
	switch opts.Key {
	case "", KeyRSA2048:
		opts.Key = KeyRSA2048
	case KeyRSA3072:
	default:
		return nil, fmt.Errorf("legacy enrollment CA needs RSA, not %q: %w", opts.Key, ErrKeyType)
	}
	if opts.CommonName == "" {
		opts.CommonName = "ospnode legacy enrollment CA"
	}
	if opts.Validity <= 0 {
		opts.Validity = defaultCAAge
	}
	ca, err := prepareCA(dir, opts)
	if err != nil {
		return nil, err
	}
	name := pkix.Name{CommonName: opts.CommonName}
	if opts.Organization != "" {
		name.Organization = []string{opts.Organization}
	}
	if opts.Country != "" {
		name.Country = []string{opts.Country}
	}
	nameDER, err := legacyName(name)
	if err != nil {
		return nil, err
	}
	signer, err := generateKey(opts.Key, ca.rand)
	if err != nil {
		return nil, err
	}
	key := signer.(*rsa.PrivateKey)
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	bc, _ := asn1.Marshal(struct{ IsCA bool }{true})
	ku, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0x06}, BitLength: 7}) // keyCertSign, cRLSign
	skid, _ := asn1.Marshal(ski)
	now := ca.now()
	tbs, err := asn1.Marshal(legacyTBSv3{
		Version:   2,
		Serial:    big.NewInt(1),
		Signature: md5WithRSAAlgorithm,
		Issuer:    nameDER,
		Validity:  legacyValidity{now.Add(-5 * time.Minute).UTC(), now.Add(opts.Validity).UTC()},
		Subject:   nameDER,
		PublicKey: asn1.RawValue{FullBytes: spki},
		Extensions: []pkix.Extension{
			{Id: oidBasicConstraints, Critical: true, Value: bc},
			{Id: oidKeyUsage, Critical: true, Value: ku},
			{Id: oidSubjectKeyID, Value: skid},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encode legacy CA certificate: %w", err)
	}
	der, err := signMD5(tbs, key)
	if err != nil {
		return nil, err
	}
	return ca.finishInit(der, key, true)
}

// signLegacy signs csr as a version 1, md5WithRSA certificate with
// PrintableString names, the shape the toolkit accepted in capture 13.
func (ca *CA) signLegacy(csr *x509.CertificateRequest, validity time.Duration, source string) (*Issued, error) {
	key, ok := ca.key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("legacy CA key %T: %w", ca.key, ErrKeyType)
	}
	now := ca.now()
	if err := ca.checkValid(now); err != nil {
		return nil, err
	}
	if validity < 0 {
		return nil, fmt.Errorf("negative validity %s: %w", validity, ErrBadRequest)
	}
	if validity == 0 {
		validity = DefaultValidity(KindMember)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	subject, err := legacySubject(csr.RawSubject)
	if err != nil {
		return nil, err
	}
	unlock, err := ca.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	serial, err := ca.nextSerial()
	if err != nil {
		return nil, err
	}
	tbs, err := asn1.Marshal(legacyTBSv1{
		Serial:    serial,
		Signature: md5WithRSAAlgorithm,
		Issuer:    asn1.RawValue{FullBytes: ca.cert.RawSubject},
		Validity:  legacyValidity{now.Add(-5 * time.Minute).UTC(), notAfter.UTC()},
		Subject:   subject,
		PublicKey: asn1.RawValue{FullBytes: csr.RawSubjectPublicKeyInfo},
	})
	if err != nil {
		return nil, fmt.Errorf("encode legacy certificate: %w", err)
	}
	der, err := signMD5(tbs, key)
	if err != nil {
		return nil, err
	}
	return ca.record(der, KindMember, source)
}

// legacyATV and legacyRDNSET mirror pkix's name types but keep each value's
// raw encoding, so its string type can be checked (encoding/asn1 treats a
// slice type whose name ends in SET as a SET OF).
type legacyATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type legacyRDNSET []legacyATV

// legacySubject returns the CSR's subject with every value as a
// PrintableString, keeping the requester's attribute order (the toolkit
// sends CN, then O). Values in another string type are re-tagged when their
// text fits PrintableString; otherwise ErrBadRequest.
func legacySubject(raw []byte) (asn1.RawValue, error) {
	var rdns []legacyRDNSET
	rest, err := asn1.Unmarshal(raw, &rdns)
	if err != nil || len(rest) != 0 {
		return asn1.RawValue{}, fmt.Errorf("CSR subject: %v: %w", err, ErrBadRequest)
	}
	for _, rdn := range rdns {
		for i := range rdn {
			v := &rdn[i].Value
			stringTag := v.Tag == asn1.TagPrintableString || v.Tag == asn1.TagUTF8String ||
				v.Tag == asn1.TagIA5String || v.Tag == asn1.TagT61String
			if v.Class != asn1.ClassUniversal || v.IsCompound || !stringTag || !isPrintableString(string(v.Bytes)) {
				return asn1.RawValue{}, fmt.Errorf("CSR subject value %q is not a PrintableString: %w", v.Bytes, ErrBadRequest)
			}
			*v = asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: v.Bytes}
		}
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("encode subject: %w", err)
	}
	return asn1.RawValue{FullBytes: der}, nil
}
