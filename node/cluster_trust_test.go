package node

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// handMade signs tmpl with the test CA's key outside the CA (no index
// entry): certificates the CA would no longer issue — expired, or a node
// certificate from before node identities.
func (c *testCA) handMade(tmpl *x509.Certificate) *pki.Issued {
	c.t.Helper()
	caKey, err := pki.ParseKeyPEM(mustRead(c.t, filepath.Join(c.dir, pki.CAKeyFile)))
	if err != nil {
		c.t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca.Certificate(), key.Public(), caKey)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		c.t.Fatal(err)
	}
	return &pki.Issued{Serial: cert.SerialNumber, Cert: cert, Key: key}
}

// rogueDialer opens cluster connections of one type (1 Raft, 2 internal
// channel) with an optional client certificate.
type rogueDialer struct {
	addr string
	cert *pki.Issued // nil: no client certificate
	ca   *x509.CertPool
}

func (d rogueDialer) dial(typ byte) (net.Conn, error) {
	raw, err := net.DialTimeout("tcp", d.addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: d.ca, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if d.cert != nil {
		cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{d.cert.Cert.Raw}, PrivateKey: d.cert.Key, Leaf: d.cert.Cert}}
	}
	c := tls.Client(raw, cfg)
	if err := c.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		raw.Close()
		return nil, err
	}
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	if _, err := c.Write([]byte{typ}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// raftStream makes the dialer a raft.StreamLayer (its Accept serves a
// listener nobody dials).
type rogueStream struct {
	net.Listener
	d rogueDialer
}

func (s rogueStream) Dial(raft.ServerAddress, time.Duration) (net.Conn, error) { return s.d.dial(1) }

// internalCall sends one internal-channel request (the consensus frame:
// uint32 length | type | uint64 id | body) and returns the answer's status
// byte and body.
func (d rogueDialer) internalCall(typ byte, body []byte) (byte, string, error) {
	c, err := d.dial(2)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if hello, err := r.ReadByte(); err != nil || hello != 1 {
		return 0, "", fmt.Errorf("no internal channel hello: %d %v", hello, err)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(9+len(body)))
	frame = append(frame, typ)
	frame = binary.BigEndian.AppendUint64(frame, 1)
	if _, err := c.Write(append(frame, body...)); err != nil {
		return 0, "", err
	}
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return 0, "", err
	}
	resp := make([]byte, binary.BigEndian.Uint32(l[:]))
	if _, err := io.ReadFull(r, resp); err != nil {
		return 0, "", err
	}
	return resp[0], string(resp[9:]), nil
}

// Internal-channel request types and bodies (consensus/rpc.go).
func proposeBody(cmds ...[]byte) []byte {
	b := binary.AppendUvarint(nil, uint64(time.Second))
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

func joinBody(id, addr string) []byte {
	b := binary.AppendUvarint(nil, uint64(time.Second))
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(addr)))
	return append(b, addr...)
}

// TestClusterPortAdmitsNodesOnly: a rogue client on a TLS cluster's port
// with no certificate, a member, peer, admin or token certificate, an
// expired or revoked node certificate, or a node certificate issued before
// node identities, tries Raft (AppendEntries with a higher term and an
// undecodable entry, RequestVote, InstallSnapshot) and the internal channel
// (a forwarded proposal, a join): every attempt fails and the cluster's
// leader, term and log are unchanged. A valid node certificate of a node
// outside the Raft configuration passes TLS but the internal channel
// refuses it, also when it asks to join under another node's ID. The
// harness itself is checked with a cluster member's own certificate.
func TestClusterPortAdmitsNodesOnly(t *testing.T) {
	c := newTestCA(t)
	admin := c.issue(pki.KindMember, "ops-admin")
	// Raft's default timeouts: the test asserts the term does not move,
	// which 100 ms elections on a loaded machine would not promise.
	calm := func(cfg *Config) {
		cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		cfg.Raft.LeaderWait = 5 * time.Second
	}
	c1 := tlsNodeConfig(t, c, "n1", admin.Serial.String())
	c1.Bootstrap, c1.Demo = true, true
	calm(&c1)
	n1 := openNode(t, c1)
	c2 := tlsNodeConfig(t, c, "n2", admin.Serial.String())
	c2.Join = []string{n1.ClusterAddr()}
	calm(&c2)
	n2 := openNode(t, c2)
	waitFor(t, "n2 to replicate the demo network", 20*time.Second, func() bool {
		_, err := n2.Store().Network()
		return err == nil && len(n2.Consensus().Status().Members) == 2
	})
	n2cert, err := pki.ParseCertPEM(mustRead(t, c2.Trust.ClusterCert))
	if err != nil {
		t.Fatal(err)
	}
	n2key, err := pki.ParseKeyPEM(mustRead(t, c2.Trust.ClusterKey))
	if err != nil {
		t.Fatal(err)
	}
	member := &pki.Issued{Serial: n2cert[0].SerialNumber, Cert: n2cert[0], Key: n2key}

	revoked := c.issue(pki.KindNode, "n9")
	mustPropose(t, n1, ledger.RevokeCert{Serial: revoked.Serial.Text(16), At: time.Now().UTC(), Reason: "keyCompromise"})
	waitFor(t, "n2 to apply the revocation", 10*time.Second, func() bool {
		ok, err := n2.Store().IsRevoked(revoked.Serial.Text(16))
		return err == nil && ok
	})
	expired := c.handMade(&x509.Certificate{SerialNumber: big.NewInt(1 << 40), Subject: pkix.Name{CommonName: "n8"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{pki.NodeURI("n8")}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	oldStyle := c.handMade(&x509.Certificate{SerialNumber: big.NewInt(1<<40 + 1), Subject: pkix.Name{CommonName: "n2"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})

	roots := c.pool()
	// Positive control: n2's own certificate speaks the internal channel
	// (a read index, which appends a barrier entry: before the snapshot).
	for _, target := range []*Node{n1, n2} {
		good := rogueDialer{addr: target.ClusterAddr(), cert: member, ca: roots}
		if st, msg, err := good.internalCall(2, binary.AppendUvarint(nil, uint64(time.Second))); err != nil || (target == n1 && st != 0) {
			t.Fatalf("%s: read index with n2's certificate: status %d %q %v", target.ID(), st, msg, err)
		}
		// and Raft: a vote request with a stale term is answered (not granted).
		if err := rogueAttempts(t, good, target.Consensus().Status(), 1)[1].run(); err != nil {
			t.Fatalf("%s: stale RequestVote with n2's certificate: %v", target.ID(), err)
		}
	}
	before := n1.Consensus().Status()
	if before.State != "Leader" {
		t.Fatalf("n1 is %s, want the leader", before.State)
	}
	for _, target := range []*Node{n1, n2} {
		addr := target.ClusterAddr()
		rogues := []struct {
			name string
			cert *pki.Issued
		}{
			{"no certificate", nil},
			{"member certificate", c.issue(pki.KindMember, "n3")},
			{"admin certificate", admin},
			{"peer certificate", c.issue(pki.KindPeer, "n2")},
			{"token certificate", c.issue(pki.KindTokenSigning, "n2")},
			{"expired node certificate", expired},
			{"revoked node certificate", revoked},
			{"node certificate without identity", oldStyle},
		}
		for _, r := range rogues {
			d := rogueDialer{addr: addr, cert: r.cert, ca: roots}
			for _, attempt := range rogueAttempts(t, d, before, before.Term+100) {
				if err := attempt.run(); err == nil {
					t.Errorf("%s, %s on %s: accepted", r.name, attempt.name, target.ID())
				}
			}
		}
	}

	// A node certificate of a node outside the configuration: TLS admits
	// it (the CA made it a node), the internal channel does not.
	stranger := rogueDialer{addr: n1.ClusterAddr(), cert: c.issue(pki.KindNode, "n7"), ca: roots}
	for name, body := range map[string][]byte{"propose": proposeBody([]byte{0xff, 0xfe}), "join as n2": joinBody("n2", "127.0.0.1:1")} {
		typ := byte(1)
		if strings.HasPrefix(name, "join") {
			typ = 3
		}
		st, msg, err := stranger.internalCall(typ, body)
		if err != nil || st == 0 || !strings.Contains(msg, "not in the Raft configuration") {
			t.Errorf("n7 %s: status %d %q %v; want refused", name, st, msg, err)
		}
	}

	// A node joining as itself: only at a host its certificate names, and
	// never at the address of another member (which Join would take over).
	n6, err := c.ca.Issue(pki.IssueRequest{Kind: pki.KindNode, CommonName: "n6", IPs: []net.IP{net.IPv4(127, 0, 0, 9)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		d    rogueDialer
		body []byte
		want string
	}{
		"n6 at a host its certificate does not name": {rogueDialer{addr: n1.ClusterAddr(), cert: n6, ca: roots}, joinBody("n6", "127.0.0.1:1"), "may not join"},
		"n7 at n2's address":                         {stranger, joinBody("n7", n2.ClusterAddr()), `the address of "n2"`},
	} {
		st, msg, err := tc.d.internalCall(3, tc.body)
		if err != nil || st == 0 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: status %d %q %v; want refused (%q)", name, st, msg, err, tc.want)
		}
	}

	after := n1.Consensus().Status()
	if after.LeaderID != before.LeaderID || after.Term != before.Term || after.CommitIndex != before.CommitIndex {
		t.Fatalf("cluster changed: before leader %s term %d commit %d, after leader %s term %d commit %d",
			before.LeaderID, before.Term, before.CommitIndex, after.LeaderID, after.Term, after.CommitIndex)
	}
	if got := n1.Consensus().Status().Members; len(got) != 2 {
		t.Fatalf("members %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n2.Propose(ctx, ledger.RevokeCert{Serial: "abcdef", At: time.Now().UTC(), Reason: "test"}); err != nil {
		t.Fatalf("the cluster no longer commits: %v", err)
	}
}

type rogueAttempt struct {
	name string
	run  func() error
}

// rogueAttempts are the Raft RPCs and internal-channel requests a rogue
// client tries with term (above the leader's, for a rogue).
func rogueAttempts(t *testing.T, d rogueDialer, status consensus.Status, term uint64) []rogueAttempt {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: rogueStream{Listener: ln, d: d}, MaxPool: 1, Timeout: 3 * time.Second})
	t.Cleanup(func() { tr.Close() })
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("rogue"), Addr: []byte(ln.Addr().String())}
	target := raft.ServerAddress(d.addr)
	id := raft.ServerID(status.ID)
	return []rogueAttempt{
		{"AppendEntries", func() error {
			var resp raft.AppendEntriesResponse
			return tr.AppendEntries(id, target, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: term, PrevLogEntry: status.CommitIndex,
				PrevLogTerm: status.Term, LeaderCommitIndex: status.CommitIndex + 1,
				Entries: []*raft.Log{{Index: status.CommitIndex + 1, Term: term, Type: raft.LogCommand, Data: []byte{0xff, 0xff}}}}, &resp)
		}},
		{"RequestVote", func() error {
			var resp raft.RequestVoteResponse
			return tr.RequestVote(id, target, &raft.RequestVoteRequest{RPCHeader: hdr, Term: term,
				LastLogIndex: status.CommitIndex + 1000, LastLogTerm: term}, &resp)
		}},
		{"InstallSnapshot", func() error {
			var resp raft.InstallSnapshotResponse
			return tr.InstallSnapshot(id, target, &raft.InstallSnapshotRequest{RPCHeader: hdr, SnapshotVersion: raft.SnapshotVersionMax,
				Term: term, LastLogIndex: status.CommitIndex + 1000, LastLogTerm: term, Size: 4}, &resp, strings.NewReader("junk"))
		}},
		{"forwarded proposal", func() error {
			st, msg, err := d.internalCall(1, proposeBody([]byte{0xff, 0xfe}))
			if err == nil && st != 0 {
				err = errors.New(msg)
			}
			return err
		}},
	}
}

// TestClusterConfigRefusals: a node refuses to start with a plain-TCP
// cluster listener on a non-loopback address (unless ClusterInsecure), or
// with a cluster certificate that is not its own node certificate: another
// node's, a peer's, or a node certificate from before node identities (the
// error says how to reissue it).
func TestClusterConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{{"127.0.0.1:0", true}, {"[::1]:5047", true}, {"localhost:1", true}, {"0.0.0.0:5047", false},
		{":5047", false}, {"192.0.2.1:5047", false}, {"example.net:5047", false}, {"junk", false}} {
		if got := loopbackAddr(tc.addr); got != tc.want {
			t.Errorf("loopbackAddr(%q) = %v", tc.addr, got)
		}
	}
	c := newTestCA(t)
	oldStyle := c.handMade(&x509.Certificate{SerialNumber: big.NewInt(1 << 41), Subject: pkix.Name{CommonName: "n1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	oldStyle.CertPEM = pemCert(oldStyle.Cert.Raw)
	var err error
	if oldStyle.KeyPEM, err = pki.MarshalKeyPEM(oldStyle.Key); err != nil {
		t.Fatal(err)
	}
	if err := oldStyle.WriteFiles(filepath.Join(t.TempDir(), "old")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"plain TCP on all interfaces", func(c *Config) { c.ClusterAddr = "0.0.0.0:0" }, "--cluster-insecure"},
		{"another node's certificate", func(cfg *Config) {
			is := c.issue(pki.KindNode, "n2")
			cfg.Trust = TrustConfig{ClusterCert: is.CertFile, ClusterKey: is.KeyFile}
		}, `node "n2"'s, not this node's`},
		{"peer certificate", func(cfg *Config) {
			is := c.issue(pki.KindPeer, "n1")
			cfg.Trust = TrustConfig{ClusterCert: is.CertFile, ClusterKey: is.KeyFile}
		}, "no node identity"},
		{"node certificate without identity", func(cfg *Config) {
			cfg.Trust = TrustConfig{ClusterCert: oldStyle.CertFile, ClusterKey: oldStyle.KeyFile}
		}, "ospnode ca issue --kind node"},
	} {
		cfg := testConfig(t, "n1")
		cfg.PKIDir = c.dir
		cfg.Bootstrap = true
		tc.set(&cfg)
		n, err := Open(context.Background(), cfg)
		if err == nil {
			n.Close()
			t.Errorf("%s: node started", tc.name)
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrConfig mentioning %q", tc.name, err, tc.want)
		}
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestListenersOfferAEADOnly: every TLS listener (OSP, admin, cluster)
// refuses a TLS 1.2 client that offers only CBC-SHA or static-RSA suites,
// and accepts an ECDHE-AEAD one.
func TestListenersOfferAEADOnly(t *testing.T) {
	c := newTestCA(t)
	admin := c.issue(pki.KindMember, "ops-admin")
	cfg := tlsNodeConfig(t, c, "n1", admin.Serial.String())
	cfg.Bootstrap = true
	n := openNode(t, cfg)
	node := c.issue(pki.KindNode, "n1")
	nodeCert := tls.Certificate{Certificate: [][]byte{node.Cert.Raw}, PrivateKey: node.Key, Leaf: node.Cert}
	hostOf := func(u string) string {
		u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
		return strings.SplitN(u, "/", 2)[0]
	}
	for _, addr := range []string{hostOf(n.OSPURL()), hostOf(n.AdminURL()), n.ClusterAddr()} {
		for _, tc := range []struct {
			name   string
			suites []uint16
			ok     bool
		}{
			{"CBC-SHA", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, false},
			{"static RSA GCM", []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
			{"ECDHE-AEAD", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: c.pool(), ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12,
				CipherSuites: tc.suites, Certificates: []tls.Certificate{nodeCert}})
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("%s, TLS 1.2 %s: handshake error %v, want ok=%v", addr, tc.name, err, tc.ok)
			}
		}
	}
}

// TestAdminConnsPerSource: the admin listener caps one source's
// connections (AdminMaxConnsPerSource): a source at its cap whose every
// connection is busy cannot open another, while idle ones make room.
func TestAdminConnsPerSource(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap = true
	cfg.HTTP = HTTPLimits{AdminMaxConnsPerSource: 2}
	n := openNode(t, cfg)
	addr := strings.TrimPrefix(n.AdminURL(), "http://")
	// Two slow header senders hold both slots...
	for range 2 {
		c := dialRaw(t, addr, "127.0.0.1")
		c.send([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	}
	waitFor(t, "the admin listener to hold both", 10*time.Second, func() bool {
		return n.met.adminRefused.Load()+n.met.adminEvicted.Load() == 0 && adminConns(t, n) == 2
	})
	// ...a third connection takes the slowest one's slot and is served.
	c := dialRaw(t, addr, "127.0.0.1")
	c.send([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	if ans, err := c.readAnswer(5 * time.Second); err != nil || ans == nil {
		t.Fatalf("third admin connection not answered: %+v %v", ans, err)
	}
	if n.met.adminEvicted.Load() != 1 || adminConns(t, n) > 2 {
		t.Fatalf("evicted %d, open %d", n.met.adminEvicted.Load(), adminConns(t, n))
	}
}

func adminConns(t *testing.T, n *Node) int {
	t.Helper()
	c, _, _, _ := n.adminBudget.use("127.0.0.1")
	return c
}

// TestCertificateKindsPerListener: each certificate kind is good for its
// own purpose only. On the OSP listener a certificate identifies a member
// only when that member lists it; on the admin API only a listed serial is
// an operator; on the cluster port only node certificates pass
// (TestClusterPortAdmitsNodesOnly has the full matrix there). Requests come
// from 127.0.0.7, an address no member has.
func TestCertificateKindsPerListener(t *testing.T) {
	c := newTestCA(t)
	admin := c.issue(pki.KindMember, "ops-admin")
	member := c.issue(pki.KindMember, "carrier-c")
	cfg := tlsNodeConfig(t, c, "n1", admin.Serial.String())
	cfg.Bootstrap, cfg.Demo = true, true
	n := openNode(t, cfg)
	sum := sha256.Sum256(member.Cert.Raw)
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	ma.Credentials = ledger.Credentials{SourceAddrs: []string{"127.0.0.1"}}
	mustPropose(t, n, ledger.PutMember{Member: ma}, ledger.PutMember{Member: ledger.Member{ID: "carrier-c", Status: ledger.MemberActive,
		Credentials: ledger.Credentials{CertFingerprints: []string{hex.EncodeToString(sum[:])}}, SellDeckID: "sell-carrier-a"}})
	waitFor(t, "the member view", 5*time.Second, func() bool {
		v, err := n.state.get()
		return err == nil && v.members["carrier-c"] != nil && len(v.claimable) == 0
	})
	from := func(is *pki.Issued) *http.Client {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}}
		tc := &tls.Config{RootCAs: c.pool(), MinVersion: tls.VersionTLS12}
		if is != nil {
			tc.Certificates = []tls.Certificate{{Certificate: [][]byte{is.Cert.Raw}, PrivateKey: is.Key, Leaf: is.Cert}}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: tc, DisableKeepAlives: true}}
	}
	for i, tc := range []struct {
		name      string
		cert      *pki.Issued
		ospMember string // "" = not identified
		admin     bool
	}{
		{"no certificate", nil, "", false},
		{"member certificate listed by carrier-c", member, "carrier-c", false},
		{"member certificate listed by nobody", c.issue(pki.KindMember, "carrier-x"), "", false},
		{"admin certificate", admin, "", true},
		{"peer certificate", c.issue(pki.KindPeer, "carrier-c"), "", false},
		{"node certificate", c.issue(pki.KindNode, "n1"), "", false},
		{"token certificate", c.issue(pki.KindTokenSigning, "carrier-c"), "", false},
	} {
		cl := from(tc.cert)
		body := mustEncode(t, authRequest(fmt.Sprint(900+i), fmt.Sprintf("kinds-%d", i), called, 5))
		code, out, _ := post(t, cl, n.OSPURL(), body)
		got := ""
		if code == http.StatusOK {
			m, err := osp.Decode(out, osp.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if ar := authResponse(t, m); ar.Status.Code == osp.StatusOK {
				tx, err := n.Store().Transaction(ar.TransactionID)
				if err != nil {
					t.Fatal(err)
				}
				got = tx.SourceMember
			}
		}
		if got != tc.ospMember {
			t.Errorf("%s on OSP: HTTP %d, identified as %q; want %q", tc.name, code, got, tc.ospMember)
		}
		code, _, err := adminDo(t, cl, http.MethodGet, n.AdminURL()+"/v1/status", "", nil)
		if err != nil || (code == http.StatusOK) != tc.admin {
			t.Errorf("%s on the admin API: HTTP %d %v; want admin=%v", tc.name, code, err, tc.admin)
		}
	}
}

// TestClusterDialsNodesOnly: the check runs when dialling too. A fake
// seed presenting a peer certificate of the network CA (or a node
// certificate from before node identities) is refused by a joining node's
// handshake; the same fake with a node certificate is not (control).
func TestClusterDialsNodesOnly(t *testing.T) {
	c := newTestCA(t)
	oldStyle := c.handMade(&x509.Certificate{SerialNumber: big.NewInt(1 << 42), Subject: pkix.Name{CommonName: "n1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for _, tc := range []struct {
		name string
		cert *pki.Issued
		ok   bool
	}{
		{"peer certificate", c.issue(pki.KindPeer, "n1"), false},
		{"node certificate without identity", oldStyle, false},
		{"node certificate", c.issue(pki.KindNode, "n1"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{ClientAuth: tls.RequireAnyClientCert,
				Certificates: []tls.Certificate{{Certificate: [][]byte{tc.cert.Cert.Raw}, PrivateKey: tc.cert.Key, Leaf: tc.cert.Cert}}})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			results := make(chan error, 16)
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					results <- conn.(*tls.Conn).Handshake()
					conn.Close()
				}
			}()
			cfg := tlsNodeConfig(t, c, "n2", "1")
			cfg.Join = []string{ln.Addr().String()}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if n, err := Open(ctx, cfg); err == nil {
				n.Close()
				t.Fatal("joined a fake seed")
			}
			select {
			case err := <-results:
				if (err == nil) != tc.ok {
					t.Fatalf("fake seed's handshake: %v, want ok=%v", err, tc.ok)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the joining node never dialled the fake seed")
			}
		})
	}
}
