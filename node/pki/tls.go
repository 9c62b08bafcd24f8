package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// LoadCertPool reads PEM files (each may hold several certificates) into a
// new pool. It returns ErrCorruptPEM for a file without a parsable
// certificate and an error when no file is given.
func LoadCertPool(pemFiles ...string) (*x509.CertPool, error) {
	if len(pemFiles) == 0 {
		return nil, errors.New("load certificate pool: no file given")
	}
	pool := x509.NewCertPool()
	for _, f := range pemFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load certificate pool: %w", err)
		}
		certs, err := ParseCertPEM(b)
		if err != nil {
			return nil, fmt.Errorf("load certificate pool: %s: %w", f, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// LoadKeyPair loads a certificate (chain) and its key, with this package's
// typed errors (tls.LoadX509KeyPair's are untyped).
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate: %w", err)
	}
	certs, err := ParseCertPEM(cb)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate %s: %w", certFile, err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key: %w", err)
	}
	key, err := ParseKeyPEM(kb)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key %s: %w", keyFile, err)
	}
	if !keyMatches(key, certs[0].PublicKey) {
		return tls.Certificate{}, fmt.Errorf("key %s does not match certificate %s: %w", keyFile, certFile, ErrKeyType)
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// CheckRevoked returns a tls.Config.VerifyConnection hook that fails the
// handshake with ErrRevoked when any certificate of the peer's verified
// chains (or, unverified, of its presented chain) is revoked.
//
// VerifyConnection rather than VerifyPeerCertificate because TLS calls it on
// every connection, resumed sessions included, so a revoked peer cannot ride
// on a session ticket issued before its revocation.
func CheckRevoked(revoked RevocationChecker) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if revoked == nil {
			return nil
		}
		check := func(c *x509.Certificate) error {
			if revoked(c.SerialNumber) {
				return fmt.Errorf("peer certificate %q serial %s: %w", c.Subject.CommonName, c.SerialNumber, ErrRevoked)
			}
			return nil
		}
		for _, chain := range cs.VerifiedChains {
			for _, c := range chain {
				if err := check(c); err != nil {
					return err
				}
			}
		}
		for _, c := range cs.PeerCertificates {
			if err := check(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// VerifyPeerNotRevoked is the same check in tls.Config.VerifyPeerCertificate
// form, for callers that already use VerifyConnection for something else.
// Prefer CheckRevoked: VerifyPeerCertificate is skipped on resumption.
func VerifyPeerNotRevoked(revoked RevocationChecker) func(rawCerts [][]byte, chains [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, chains [][]*x509.Certificate) error {
		cs := tls.ConnectionState{VerifiedChains: chains}
		for _, raw := range rawCerts {
			c, err := x509.ParseCertificate(raw)
			if err != nil {
				return fmt.Errorf("peer certificate: %w", err)
			}
			cs.PeerCertificates = append(cs.PeerCertificates, c)
		}
		return CheckRevoked(revoked)(cs)
	}
}

// ServerTLSConfig returns a TLS server configuration (TLS 1.2 minimum; the
// OSP Toolkit speaks 1.3) presenting certFile/keyFile. clientCAs and
// clientAuth decide client-certificate checking (tls.NoClientCert for a
// plain HTTPS listener, tls.RequireAndVerifyClientCert for members and
// peers); revoked, if non-nil, refuses revoked client certificates.
func ServerTLSConfig(certFile, keyFile string, clientCAs *x509.CertPool, clientAuth tls.ClientAuthType,
	revoked RevocationChecker) (*tls.Config, error) {
	cert, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if clientAuth >= tls.VerifyClientCertIfGiven && clientCAs == nil {
		return nil, errors.New("server TLS: client certificate verification needs client CAs")
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     append([]uint16(nil), CipherSuites...),
		Certificates:     []tls.Certificate{cert},
		ClientCAs:        clientCAs,
		ClientAuth:       clientAuth,
		VerifyConnection: CheckRevoked(revoked),
	}, nil
}

// ClientTLSConfig returns a TLS client configuration (TLS 1.2 minimum) that
// verifies the server against rootCAs (nil: the system roots) for
// serverName (empty: taken from the dialled address) and refuses a revoked
// server certificate. certFile and keyFile, if both non-empty, are the
// client certificate to present.
func ClientTLSConfig(certFile, keyFile string, rootCAs *x509.CertPool, serverName string,
	revoked RevocationChecker) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     append([]uint16(nil), CipherSuites...),
		RootCAs:          rootCAs,
		ServerName:       serverName,
		VerifyConnection: CheckRevoked(revoked),
	}
	if certFile != "" || keyFile != "" {
		cert, err := LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// MutualTLS returns matching server and client configurations for
// node-to-node links (Raft transport, leader forwarding): both present
// certFile/keyFile (a KindNode certificate), both verify the other against
// ca, both refuse revoked certificates. The client config has no
// ServerName: set it per dial (tls.Config.Clone) or let tls.Dial derive it.
func MutualTLS(certFile, keyFile string, ca *x509.CertPool, revoked RevocationChecker) (server, client *tls.Config, err error) {
	if ca == nil {
		return nil, nil, errors.New("mutual TLS: nil CA pool")
	}
	server, err = ServerTLSConfig(certFile, keyFile, ca, tls.RequireAndVerifyClientCert, revoked)
	if err != nil {
		return nil, nil, err
	}
	client, err = ClientTLSConfig(certFile, keyFile, ca, "", revoked)
	if err != nil {
		return nil, nil, err
	}
	return server, client, nil
}

// CipherSuites are the TLS 1.2 suites every ospnode TLS configuration
// offers: ECDHE key exchange (forward secrecy) with an AEAD cipher only —
// no CBC-SHA (Lucky13-class padding oracles), no static-RSA key exchange.
// TLS 1.3 suites are not configurable in Go and are all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Harden sets c's floor to TLS 1.2 with CipherSuites and returns c.
func Harden(c *tls.Config) *tls.Config {
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.CipherSuites = append([]uint16(nil), CipherSuites...)
	return c
}
