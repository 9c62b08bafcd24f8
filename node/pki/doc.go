// Package pki is ospnode's trust layer: the network certificate authority
// kept in a directory, the certificates it issues, their revocation, the
// TLS configurations built on them, token-signing key rotation, and the OSP
// Toolkit's certificate enrollment protocol (POST /tep).
//
// # What it owns
//
//   - A CA on disk (InitCA, OpenCA): ca.crt, ca.key (0600), ca.json, a
//     serial counter, index.jsonl (append-only log of issues, revocations and
//     token-signing retirements), issued/<serial>.crt, pending/<id>.json.
//     ECDSA P-256 by default, RSA 2048/3072 on request.
//   - Issuing (CA.Issue, CA.SignCSR) for four kinds: member (TLS client),
//     peer and node (TLS client+server, IP/DNS SANs), token (digital
//     signature only, for PKCS#7 OSP tokens). Keys are written 0600. Only
//     node certificates carry a node identity (NodeIdentity: the URI SAN
//     "ospnode-node:<id>"), and only Issue writes it.
//   - Revocation recorded in the CA directory (CA.Revoke, CA.Revoked) and
//     one hook type, RevocationChecker, shared by TLS (CheckRevoked in
//     tls.Config.VerifyConnection, so resumed sessions are checked too)
//     and token verification. The node replicates revocations through the
//     ledger and feeds them into a RevocationSet; pki does not know Raft.
//   - TLS configurations (ServerTLSConfig, ClientTLSConfig, MutualTLS),
//     TLS 1.2 minimum: the OSP Toolkit speaks 1.3, but some peers' stacks
//     stop at 1.2.
//   - Token-signing rotation with overlap (TokenKeyring, CA.RotateTokenSigning,
//     CA.Bundle): an old key stays trusted until the last token it signed
//     has expired.
//   - Enrollment (NewEnrollmentHandler): the toolkit's enroll tool, framed
//     byte for byte like the accepted replies in the interop captures.
//
// # What it must not do
//
// Hold replicated state, open listeners, read configuration files or the
// environment, or decide who is a member: node and the ledger do. It uses
// only the standard library's crypto.
//
// # The legacy MD5 enrollment CA
//
// The stock OSP Toolkit's enroll tool parses certificates with an old X.509
// parser that accepts only PrintableString names and an md5WithRSA
// signature. InitLegacyEnrollmentCA makes such a CA, assembling the
// certificates with encoding/asn1 because crypto/x509 (rightly) will not
// sign with MD5.
//
// It is never the default, never made implicitly, and never the network's
// trust anchor: MD5 is broken (chosen-prefix collisions are practical, and
// were used to forge a CA certificate in 2008), so anything an MD5-signing
// CA vouches for can be forged by whoever can get one certificate signed.
// Go's verifier refuses MD5 signatures for the same reason, so certificates
// from this CA do not verify with crypto/x509 at all. Keep it in its own
// directory, enable it only for toolkit deployments that use enroll, and
// prefer issuing member certificates from the network CA out of band.
//
// # Concurrency and errors
//
// A *CA is safe for concurrent use within one process; do not let two
// processes write one CA directory at the same time. Errors wrap the
// sentinels in errors.go (ErrCorruptPEM, ErrKeyType, ErrCAExpired,
// ErrUnknownSerial, ErrBodyTooLarge, …); test them with errors.Is.
package pki
