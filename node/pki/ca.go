package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files inside a CA directory. The layout is part of the contract: operators
// back the directory up as a whole and may read it with openssl.
const (
	CACertFile   = "ca.crt"      // PEM, the CA certificate (the trust anchor)
	CAKeyFile    = "ca.key"      // PEM PKCS#8, mode 0600
	caMetaFile   = "ca.json"     // format version, legacy flag
	serialFile   = "serial"      // next serial, decimal
	indexFile    = "index.jsonl" // append-only log: issue, revoke, retire
	issuedDir    = "issued"      // issued/<serial>.crt, PEM copies
	pendingDir   = "pending"     // enrollment requests awaiting approval
	lockName     = ".lock"       // flock: serial, index, issued/
	pendingLock  = ".pending.lock"
	dirPerm      = 0o700
	keyPerm      = 0o600
	certPerm     = 0o644
	metaVersion  = 1
	defaultCAAge = 10 * 365 * 24 * time.Hour
)

// CAOptions configures InitCA. The zero value makes an ECDSA P-256 CA named
// "ospnode network CA", valid for ten years from now.
type CAOptions struct {
	Key          KeyAlgorithm     // zero: ECDSA P-256
	CommonName   string           // zero: "ospnode network CA"
	Organization string           // optional subject O
	Country      string           // optional subject C (two letters)
	Validity     time.Duration    // zero: ten years
	Now          func() time.Time // zero: time.Now; also the CA's clock afterwards
	Rand         io.Reader        // zero: crypto/rand.Reader
}

// CA is a network certificate authority kept in a directory. Its methods are
// safe for concurrent use; on Unix, processes sharing one directory (the
// CLI revoking while a node signs enrollment requests) are serialised by
// an advisory file lock. Revocations reach other nodes through the ledger.
type CA struct {
	dir    string
	cert   *x509.Certificate
	certPM []byte
	key    crypto.Signer
	legacy bool
	now    func() time.Time
	rand   io.Reader

	mu        sync.Mutex // serialises serial and index updates
	pendingMu sync.Mutex // serialises enrollment decisions; taken before mu
}

type caMeta struct {
	Version int  `json:"version"`
	Legacy  bool `json:"legacy,omitempty"`
}

// InitCA creates a CA in dir (created with mode 0700 if missing). It returns
// ErrCAExists if dir already holds one and ErrKeyType for an unsupported key.
func InitCA(dir string, opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		opts.CommonName = "ospnode network CA"
	}
	if opts.Validity <= 0 {
		opts.Validity = defaultCAAge
	}
	ca, err := prepareCA(dir, opts)
	if err != nil {
		return nil, err
	}
	key, err := generateKey(opts.Key, ca.rand)
	if err != nil {
		return nil, err
	}
	now := ca.now()
	subject := pkix.Name{CommonName: opts.CommonName}
	if opts.Organization != "" {
		subject.Organization = []string{opts.Organization}
	}
	if opts.Country != "" {
		subject.Country = []string{opts.Country}
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               subject,
		NotBefore:             now.Add(-5 * time.Minute), // tolerate clock skew
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // no intermediates: every leaf hangs off the network CA
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(ca.rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA certificate: %w", err)
	}
	return ca.finishInit(der, key, false)
}

// prepareCA checks dir is free and returns a CA shell with clock and rand.
func prepareCA(dir string, opts CAOptions) (*CA, error) {
	if dir == "" {
		return nil, fmt.Errorf("init CA: empty directory: %w", ErrBadRequest)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, CACertFile)); err == nil {
		return nil, fmt.Errorf("init CA in %s: %w", dir, ErrCAExists)
	}
	ca := &CA{dir: dir, now: opts.Now, rand: opts.Rand}
	if ca.now == nil {
		ca.now = time.Now
	}
	if ca.rand == nil {
		ca.rand = rand.Reader
	}
	return ca, nil
}

// finishInit writes key, certificate, metadata, serial and an empty index.
// The key goes first so that a crash never leaves a certificate whose key is
// lost; the certificate file is what marks the directory as holding a CA.
func (ca *CA) finishInit(der []byte, key crypto.Signer, legacy bool) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	keyPEM, err := MarshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	meta, _ := json.Marshal(caMeta{Version: metaVersion, Legacy: legacy})
	steps := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CAKeyFile, keyPEM, keyPerm},
		{caMetaFile, meta, certPerm},
		{serialFile, []byte("2\n"), certPerm}, // 1 is the CA itself
		{indexFile, nil, certPerm},
		{CACertFile, certPEM(der), certPerm},
	}
	for _, s := range steps {
		if err := writeFileAtomic(filepath.Join(ca.dir, s.name), s.data, s.perm); err != nil {
			return nil, fmt.Errorf("init CA: write %s: %w", s.name, err)
		}
	}
	ca.cert, ca.certPM, ca.key, ca.legacy = cert, certPEM(der), key, legacy
	return ca, nil
}

// OpenCA loads the CA kept in dir. It returns ErrNoCA if there is none,
// ErrCorruptPEM for unreadable PEM and ErrKeyType if the key does not match
// the certificate. An expired CA opens (so that list and revoke still work)
// but refuses to sign with ErrCAExpired.
func OpenCA(dir string) (*CA, error) {
	certData, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open CA in %s: %w", dir, ErrNoCA)
	}
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	certs, err := ParseCertPEM(certData)
	if err != nil {
		return nil, fmt.Errorf("open CA: %s: %w", CACertFile, err)
	}
	keyData, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	key, err := ParseKeyPEM(keyData)
	if err != nil {
		return nil, fmt.Errorf("open CA: %s: %w", CAKeyFile, err)
	}
	if !keyMatches(key, certs[0].PublicKey) {
		return nil, fmt.Errorf("open CA: %s does not match %s: %w", CAKeyFile, CACertFile, ErrKeyType)
	}
	var meta caMeta
	if b, err := os.ReadFile(filepath.Join(dir, caMetaFile)); err == nil {
		if err := json.Unmarshal(b, &meta); err != nil {
			return nil, fmt.Errorf("open CA: %s: %w", caMetaFile, err)
		}
	}
	return &CA{dir: dir, cert: certs[0], certPM: certPEM(certs[0].Raw), key: key,
		legacy: meta.Legacy, now: time.Now, rand: rand.Reader}, nil
}

// SetClock replaces the CA's clock (tests, and nodes that inject one). Call
// it before sharing the CA between goroutines.
func (ca *CA) SetClock(now func() time.Time) { ca.now = now }

// Dir returns the CA's directory.
func (ca *CA) Dir() string { return ca.dir }

// Certificate returns the CA certificate. Do not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate as PEM.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPM...) }

// Legacy reports whether this is the MD5 enrollment CA made by
// InitLegacyEnrollmentCA.
func (ca *CA) Legacy() bool { return ca.legacy }

// Pool returns a new pool holding the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// checkValid returns ErrCAExpired outside the CA's validity window.
func (ca *CA) checkValid(now time.Time) error {
	if now.Before(ca.cert.NotBefore) || now.After(ca.cert.NotAfter) {
		return fmt.Errorf("CA %q valid %s..%s, now %s: %w", ca.cert.Subject.CommonName,
			ca.cert.NotBefore.Format(time.RFC3339), ca.cert.NotAfter.Format(time.RFC3339),
			now.Format(time.RFC3339), ErrCAExpired)
	}
	return nil
}

// lock takes the in-process mutex and the directory's file lock, for
// serial and index updates. Release with the returned func.
func (ca *CA) lock() (func(), error) {
	ca.mu.Lock()
	unlock, err := lockFile(filepath.Join(ca.dir, lockName))
	if err != nil {
		ca.mu.Unlock()
		return nil, err
	}
	return func() { unlock(); ca.mu.Unlock() }, nil
}

// lockPending is lock's counterpart for enrollment decisions; it is always
// taken before lock, never inside it.
func (ca *CA) lockPending() (func(), error) {
	ca.pendingMu.Lock()
	unlock, err := lockFile(filepath.Join(ca.dir, pendingLock))
	if err != nil {
		ca.pendingMu.Unlock()
		return nil, err
	}
	return func() { unlock(); ca.pendingMu.Unlock() }, nil
}

// nextSerial reads and advances the serial counter. Caller holds lock.
func (ca *CA) nextSerial() (*big.Int, error) {
	path := filepath.Join(ca.dir, serialFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read serial: %w", err)
	}
	n, ok := new(big.Int).SetString(strings.TrimSpace(string(b)), 10)
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial file holds %q: %w", strings.TrimSpace(string(b)), ErrBadRequest)
	}
	next := new(big.Int).Add(n, big.NewInt(1))
	if err := writeFileAtomic(path, []byte(next.String()+"\n"), certPerm); err != nil {
		return nil, fmt.Errorf("advance serial: %w", err)
	}
	return n, nil
}

// subjectKeyID is the RFC 5280 method 1 key identifier (SHA-1 of the key).
func subjectKeyID(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.Key.Bytes)
	return sum[:], nil
}
