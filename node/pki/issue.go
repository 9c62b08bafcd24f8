package pki

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Kind is the role a certificate is issued for; it decides key usages.
type Kind string

// Certificate kinds.
const (
	// KindMember: a member carrier's proxy; TLS client authentication only.
	KindMember Kind = "member"
	// KindPeer: a peering network's server point; it both calls us and is
	// called by us, so client and server authentication.
	KindPeer Kind = "peer"
	// KindNode: a cluster node; mutual TLS between nodes and the node's own
	// HTTPS listeners; server and client authentication, IP/DNS SANs, and
	// the node identity URI SAN "ospnode-node:<common name>" (NodeIdentity)
	// that only this kind carries: the common name is the Raft node ID.
	KindNode Kind = "node"
	// KindTokenSigning: signs OSP authorisation tokens (PKCS#7); digital
	// signature only, no TLS usage.
	KindTokenSigning Kind = "token"
)

// Kinds lists every kind in a stable order (for CLI help).
var Kinds = []Kind{KindMember, KindPeer, KindNode, KindTokenSigning}

// ParseKind maps a CLI word to a Kind ("token-signing" is accepted for
// "token"). Anything else returns ErrBadKind.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case KindMember, KindPeer, KindNode, KindTokenSigning:
		return Kind(s), nil
	case "token-signing":
		return KindTokenSigning, nil
	}
	return "", fmt.Errorf("kind %q (want member, peer, node or token): %w", s, ErrBadKind)
}

// DefaultValidity is the validity of an issued certificate when the request
// leaves it zero: a year for TLS kinds, 90 days for token signing (rotated
// often, see TokenKeyring).
func DefaultValidity(k Kind) time.Duration {
	if k == KindTokenSigning {
		return 90 * 24 * time.Hour
	}
	return 365 * 24 * time.Hour
}

// usages returns key usage and extended key usages for a kind. RSA keys
// also need key encipherment for TLS 1.2 RSA key exchange.
func usages(k Kind, pub any) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	ku := x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA && k != KindTokenSigning {
		ku |= x509.KeyUsageKeyEncipherment
	}
	switch k {
	case KindMember:
		return ku, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	case KindPeer, KindNode:
		return ku, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, nil
	case KindTokenSigning:
		return x509.KeyUsageDigitalSignature, nil, nil
	}
	return 0, nil, fmt.Errorf("kind %q: %w", k, ErrBadKind)
}

// IssueRequest asks the CA for a certificate and a fresh key.
type IssueRequest struct {
	Kind         Kind
	CommonName   string        // required
	Organization string        // optional subject O
	IPs          []net.IP      // SANs; node and peer kinds
	DNSNames     []string      // SANs; node and peer kinds
	Validity     time.Duration // zero: DefaultValidity(Kind); capped at the CA's NotAfter
	Key          KeyAlgorithm  // zero: ECDSA P-256
	// OutPrefix, when set, makes Issue write OutPrefix+".crt" (PEM, 0644)
	// and OutPrefix+".key" (PEM PKCS#8, 0600).
	OutPrefix string
}

// Issued is a certificate the CA signed, with its key when the CA made it.
type Issued struct {
	Serial   *big.Int
	Cert     *x509.Certificate
	CertPEM  []byte
	Key      crypto.Signer // nil for SignCSR: the requester keeps its key
	KeyPEM   []byte        // nil for SignCSR
	CertFile string        // set when written to disk
	KeyFile  string
}

// Issue generates a key and signs a certificate of req.Kind. It records the
// certificate in the index and under issued/. Errors: ErrBadKind,
// ErrBadRequest (no name), ErrKeyType, ErrCAExpired, ErrLegacyCA.
func (ca *CA) Issue(req IssueRequest) (*Issued, error) {
	if ca.legacy {
		return nil, fmt.Errorf("issue %s: %w", req.Kind, ErrLegacyCA)
	}
	if req.CommonName == "" {
		return nil, fmt.Errorf("issue %s: empty common name: %w", req.Kind, ErrBadRequest)
	}
	if _, _, err := usages(req.Kind, nil); err != nil {
		return nil, err
	}
	key, err := generateKey(req.Key, ca.rand)
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: req.CommonName}
	if req.Organization != "" {
		subject.Organization = []string{req.Organization}
	}
	out, err := ca.sign(req.Kind, subject, key.Public(), req.IPs, req.DNSNames, req.Validity, "issue")
	if err != nil {
		return nil, err
	}
	out.Key = key
	if out.KeyPEM, err = MarshalKeyPEM(key); err != nil {
		return nil, err
	}
	if req.OutPrefix != "" {
		if err := out.WriteFiles(req.OutPrefix); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteFiles writes prefix.crt (0644) and, when the key is known,
// prefix.key (0600), creating the parent directory (0700) if needed.
func (is *Issued) WriteFiles(prefix string) error {
	if d := filepath.Dir(prefix); d != "." {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return fmt.Errorf("write certificate: %w", err)
		}
	}
	if is.KeyPEM != nil {
		is.KeyFile = prefix + ".key"
		if err := writeFileAtomic(is.KeyFile, is.KeyPEM, keyPerm); err != nil {
			return fmt.Errorf("write key: %w", err)
		}
	}
	is.CertFile = prefix + ".crt"
	if err := writeFileAtomic(is.CertFile, is.CertPEM, certPerm); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// SignCSR signs a PKCS#10 request (DER) as a certificate of kind, keeping
// the request's subject and SANs. The CSR's self-signature must verify and
// its key must be ECDSA P-256 or RSA ≥ 2048 (ErrKeyType). On the legacy
// enrollment CA it makes the toolkit's MD5 format instead (see legacy.go).
// KindNode is refused (ErrBadKind): a node certificate's identity is the
// CA's to write (Issue), never a requester's subject.
func (ca *CA) SignCSR(csrDER []byte, kind Kind, validity time.Duration) (*Issued, error) {
	return ca.signCSR(csrDER, kind, validity, "csr")
}

// csrRequirement is what a signable CSR needs, said in every refusal.
const csrRequirement = "a CSR needs an RSA key of at least 2048 bits or an ECDSA P-256 key, self-signed with SHA-256 or better"

// parseCSR parses a PKCS#10 request and checks its key type and signature.
func parseCSR(csrDER []byte) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %v: %w", err, ErrBadRequest)
	}
	// The key first: the stock toolkit's enroll request (RSA 512, signed
	// with MD5) fails both, and the key is what its operator must change.
	if err := checkKeyType(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("CSR: %w (%s)", err, csrRequirement)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %v (%s): %w", err, csrRequirement, ErrBadRequest)
	}
	if csr.Subject.CommonName == "" {
		return nil, fmt.Errorf("CSR without common name: %w", ErrBadRequest)
	}
	return csr, nil
}

func (ca *CA) signCSR(csrDER []byte, kind Kind, validity time.Duration, source string) (*Issued, error) {
	if kind == KindNode {
		return nil, fmt.Errorf("sign CSR: node certificates are issued with their key by `ospnode ca issue --kind node`: %w", ErrBadKind)
	}
	csr, err := parseCSR(csrDER)
	if err != nil {
		return nil, err
	}
	if ca.legacy {
		return ca.signLegacy(csr, validity, source)
	}
	subject := pkix.Name{CommonName: csr.Subject.CommonName, Organization: csr.Subject.Organization,
		OrganizationalUnit: csr.Subject.OrganizationalUnit, Country: csr.Subject.Country}
	return ca.sign(kind, subject, csr.PublicKey, csr.IPAddresses, csr.DNSNames, validity, source)
}

// sign issues and records one certificate.
func (ca *CA) sign(kind Kind, subject pkix.Name, pub any, ips []net.IP, dns []string,
	validity time.Duration, source string) (*Issued, error) {
	now := ca.now()
	if err := ca.checkValid(now); err != nil {
		return nil, err
	}
	if err := checkKeyType(pub); err != nil {
		return nil, err
	}
	ku, eku, err := usages(kind, pub)
	if err != nil {
		return nil, err
	}
	if validity < 0 {
		return nil, fmt.Errorf("negative validity %s: %w", validity, ErrBadRequest)
	}
	if validity == 0 {
		validity = DefaultValidity(kind)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter // a leaf never outlives its CA
	}
	ski, err := subjectKeyID(pub)
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
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	if kind == KindNode || kind == KindPeer {
		tmpl.IPAddresses, tmpl.DNSNames = ips, dns
	}
	if kind == KindNode {
		// The node identity (nodeid.go): only this kind carries it, and the
		// common name is the Raft node ID.
		tmpl.URIs = []*url.URL{NodeURI(subject.CommonName)}
	}
	der, err := x509.CreateCertificate(ca.rand, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign %s certificate: %w", kind, err)
	}
	return ca.record(der, kind, source)
}

// record parses der, stores it under issued/ and appends it to the index.
// Caller holds lock.
func (ca *CA) record(der []byte, kind Kind, source string) (*Issued, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	pemBytes := certPEM(der)
	if err := os.MkdirAll(filepath.Join(ca.dir, issuedDir), dirPerm); err != nil {
		return nil, fmt.Errorf("record certificate: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(ca.dir, issuedDir, cert.SerialNumber.String()+".crt"), pemBytes, certPerm); err != nil {
		return nil, fmt.Errorf("record certificate: %w", err)
	}
	rec := &Record{
		Serial:    cert.SerialNumber.String(),
		Kind:      kind,
		Subject:   cert.Subject.String(),
		NotBefore: cert.NotBefore.UTC(),
		NotAfter:  cert.NotAfter.UTC(),
		Source:    source,
	}
	if err := ca.appendIndex(indexEvent{Op: "issue", Record: rec}); err != nil {
		return nil, err
	}
	return &Issued{Serial: cert.SerialNumber, Cert: cert, CertPEM: pemBytes}, nil
}
