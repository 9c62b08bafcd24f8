package pki

import "errors"

// Sentinel errors. Functions wrap them with context (%w); test with errors.Is.
var (
	// ErrCorruptPEM: a file or buffer that should hold PEM holds none, or a
	// PEM block whose DER does not parse.
	ErrCorruptPEM = errors.New("corrupt PEM")
	// ErrKeyType: a key algorithm or key file type this package does not
	// support (only ECDSA P-256 and RSA 2048/3072 are), or a private key
	// that does not match its certificate.
	ErrKeyType = errors.New("unsupported or mismatched key type")
	// ErrCAExpired: the CA certificate is outside its validity window, so it
	// must not sign anything.
	ErrCAExpired = errors.New("CA certificate expired or not yet valid")
	// ErrCAExists: InitCA was pointed at a directory that already holds a CA.
	ErrCAExists = errors.New("a CA already exists in this directory")
	// ErrNoCA: OpenCA was pointed at a directory without a CA.
	ErrNoCA = errors.New("no CA in this directory")
	// ErrUnknownSerial: Revoke named a serial this CA never issued.
	ErrUnknownSerial = errors.New("unknown certificate serial")
	// ErrBadSerial: ParseSerial was given text that is not a serial in any
	// accepted form.
	ErrBadSerial = errors.New("malformed certificate serial")
	// ErrAlreadyRevoked: Revoke named a serial that is already revoked.
	ErrAlreadyRevoked = errors.New("certificate already revoked")
	// ErrRevoked: a TLS peer presented a revoked certificate.
	ErrRevoked = errors.New("certificate revoked")
	// ErrNotNodeCert: a certificate that is not a cluster node's (no, or
	// more than one, ospnode-node URI SAN, or missing server/client auth);
	// see NodeIdentity.
	ErrNotNodeCert = errors.New("not a cluster node certificate")
	// ErrBadKind: an unknown certificate kind.
	ErrBadKind = errors.New("unknown certificate kind")
	// ErrBadRequest: an IssueRequest or CSR that cannot be signed (missing
	// name, bad CSR signature, bad validity).
	ErrBadRequest = errors.New("bad certificate request")
	// ErrLegacyCA: a modern operation asked of the legacy (MD5) enrollment
	// CA, which only signs enrollment requests.
	ErrLegacyCA = errors.New("the legacy enrollment CA only signs enrollment requests")
	// ErrBodyTooLarge: an enrollment request body above EnrollConfig.MaxBody.
	ErrBodyTooLarge = errors.New("enrollment body too large")
	// ErrEnrollForm: an enrollment body that is not the toolkit's form.
	ErrEnrollForm = errors.New("malformed enrollment form")
	// ErrUnknownPending: Approve named a pending request that does not exist.
	ErrUnknownPending = errors.New("unknown pending enrollment request")
	// ErrTooManyPending: the pending-approval queue is full.
	ErrTooManyPending = errors.New("too many pending enrollment requests")
)
