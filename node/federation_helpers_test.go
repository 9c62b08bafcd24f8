package node

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

// A small in-package multi-network helper (testnet imports node, so node's
// own tests cannot use testnet.StartTopology). Every network is a real
// Raft cluster on loopback with its own CA; members are recognised by
// their loopback source address: the carriers of a network dial from
// 127.0.0.2 (source) and 127.0.0.3 (terminating), and networks reach each
// other from 127.0.0.1 (each network's peer-member is registered there).

const (
	addrSource = "127.0.0.2"
	addrDest   = "127.0.0.3"
	addrPeer   = "127.0.0.1"
)

// testNet is one peering network: its nodes (the first bootstrapped).
type testNet struct {
	id    string
	nodes []*Node
	pki   string
	dir   string
	cfg   func(*Config)
}

// startNet opens a network of size nodes sharing one CA, with the network
// record set. mod adjusts each node's Config.
func startNet(t testing.TB, id string, size int, mod func(*Config)) *testNet {
	t.Helper()
	tn := &testNet{id: id, dir: t.TempDir(), cfg: mod}
	tn.pki = filepath.Join(tn.dir, "pki")
	for i := 1; i <= size; i++ {
		c := testConfig(t, id+"-n"+strconv.Itoa(i))
		c.DataDir = filepath.Join(tn.dir, c.NodeID)
		c.PKIDir = tn.pki
		c.Cascade = CascadeConfig{Interval: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Budget: 2 * time.Second}
		if i == 1 {
			c.Bootstrap = true
		} else {
			c.Join = []string{tn.nodes[0].ClusterAddr()}
		}
		if mod != nil {
			mod(&c)
		}
		tn.nodes = append(tn.nodes, openNode(t, c))
	}
	tn.propose(t, ledger.SetNetwork{Network: ledger.Network{ID: id, Name: id, Currency: "USD"}})
	for _, n := range tn.nodes {
		waitFor(t, n.ID()+" to join "+id, 20*time.Second, func() bool {
			nw, err := n.Store().Network()
			return err == nil && nw.ID == id && len(n.Consensus().Status().Members) == size
		})
	}
	return tn
}

// leader returns the network's current leader among its open nodes.
func (tn *testNet) leader(t testing.TB) *Node {
	t.Helper()
	var l *Node
	waitFor(t, tn.id+" leader", 20*time.Second, func() bool {
		for _, n := range tn.nodes {
			if n.Consensus().IsLeader() {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// propose applies commands through an open node, failing t on a ledger
// error. An unavailable cluster (an election after a leader was closed) is
// retried until a deadline: every command here is idempotent.
func (tn *testNet) propose(t testing.TB, cmds ...ledger.Command) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range cmds {
		for {
			res, err := tn.open()[0].Propose(ctx, c)
			if err != nil && unavailable(err) && ctx.Err() == nil {
				continue
			}
			if err != nil {
				t.Fatalf("%s: propose %s: %v", tn.id, c.Type(), err)
			}
			if err := res.Err(); err != nil {
				t.Fatalf("%s: propose %s: %v (%s)", tn.id, c.Type(), err, res.Message)
			}
			break
		}
	}
}

// sync waits until every node applied what the first has.
func (tn *testNet) sync(t testing.TB) {
	t.Helper()
	want := tn.nodes[0].Store().AppliedIndex()
	for _, n := range tn.nodes {
		waitFor(t, n.ID()+" to catch up", 20*time.Second, func() bool { return n.Store().AppliedIndex() >= want })
	}
}

// urls returns the OSP service points of the network's nodes.
func (tn *testNet) urls() []ledger.ServicePoint {
	var sps []ledger.ServicePoint
	for _, n := range tn.nodes {
		sps = append(sps, ledger.ServicePoint{URL: n.OSPURL(), Weight: 1})
	}
	return sps
}

// caPEM returns the network's token CA as PEM (what a peer trusts).
func (tn *testNet) caPEM() []string {
	var out []string
	for _, c := range tn.nodes[0].CACertificates() {
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}

func (tn *testNet) roots() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range tn.nodes[0].CACertificates() {
		p.AddCert(c)
	}
	return p
}

// deck is a one-row deck on prefix at rate per minute, 1/1 increments,
// 4 decimals, half-up.
func deck(id, counterparty, dir, prefix, rate string) ledger.Command {
	return ledger.PutDeckVersion{Version: ledger.DeckVersion{DeckID: id, Counterparty: counterparty, Direction: dir,
		Currency: "USD", Decimals: 4, RoundingMode: money.HalfUp,
		EffectiveFrom: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		Rows:          []ledger.DeckRow{{Prefix: prefix, Rate: money.MustNew(rate, "USD"), ConnectFee: money.Zero("USD"), FirstIncrement: 1, NextIncrement: 1}}}}
}

// peerTo returns the peer record of upstream as seen by a network whose
// member id at upstream is ourMember, billed on buyDeck. Tokens pass
// through a transit network untouched, so the trusted CAs are those of
// every network that may terminate calls through the peer (beyond: the
// networks behind it).
func peerTo(up *testNet, ourMember, buyDeck string, beyond ...*testNet) ledger.Command {
	cas := up.caPEM()
	for _, b := range beyond {
		cas = append(cas, b.caPEM()...)
	}
	return ledger.PutPeer{Peer: ledger.Peer{ID: up.id, Name: up.id, Status: ledger.PeerActive, ServicePoints: up.urls(),
		TrustedCAs: cas, OurMemberID: ourMember, BuyDeckID: buyDeck}}
}

// peerMember is the member record of a downstream network at its upstream
// (it forwards and cascades from addrPeer, with DeviceId = id).
func peerMember(id, sellDeck string) ledger.Command {
	return ledger.PutMember{Member: ledger.Member{ID: id, Name: id, Status: ledger.MemberActive, SellDeckID: sellDeck,
		Credentials: ledger.Credentials{SourceAddrs: []string{addrPeer}, DeviceIDs: []string{id}, CustomerIDs: []string{id}}}}
}

// carrier is a member carrier at addr.
func carrier(id, addr, sellDeck, buyDeck string) ledger.Command {
	return ledger.PutMember{Member: ledger.Member{ID: id, Name: id, Status: ledger.MemberActive, SellDeckID: sellDeck, BuyDeckID: buyDeck,
		Credentials: ledger.Credentials{SourceAddrs: []string{addr}}}}
}

func route(prefix string, cands ...ledger.RouteCandidate) ledger.Command {
	return ledger.PutRoutes{Routes: []ledger.Route{{Prefix: prefix, Candidates: cands}}}
}

// call is one call's messages, with connect/end times set so that every
// hop rates the same instant.
func fedAuth(msgID, callID, to string) *osp.Message {
	m := authRequest(msgID, callID, to, 5)
	m.Components[0].AuthorizationRequest.DeviceInfo = osp.TypedValues{{Type: osp.TypeTransport, Value: "[" + addrSource + "]:5060"}}
	return m
}

func fedUsage(msgID, compID, role string, tx uint64, callID, to string, secs int) *osp.Message {
	m := usageIndication(msgID, compID, role, tx, callID, to, strconv.Itoa(secs)+".000")
	ud := m.Components[0].UsageIndication.UsageDetail
	connect := time.Now().UTC().Add(-time.Duration(secs+5) * time.Second).Truncate(time.Second)
	ud.StartTime, ud.ConnectTime, ud.EndTime = connect.Add(-3*time.Second), connect, connect.Add(time.Duration(secs)*time.Second)
	return m
}

// fedBalance returns account's USD balance in the node's ledger as a decimal.
func fedBalance(t testing.TB, n *Node, account string) *apd.Decimal {
	t.Helper()
	b, err := n.Store().Balance(account, "USD")
	if err != nil {
		t.Fatalf("balance %s: %v", account, err)
	}
	d := new(apd.Decimal)
	d.Set(b.Decimal())
	return d
}

// margin is −revenue − cost of a network's ledger (USD).
func margin(t testing.TB, n *Node) *apd.Decimal {
	t.Helper()
	rev, cost := fedBalance(t, n, ledger.AccountRevenue), fedBalance(t, n, ledger.AccountCost)
	var m apd.Decimal
	if _, err := apd.BaseContext.Add(&m, rev, cost); err != nil {
		t.Fatal(err)
	}
	m.Neg(&m)
	return &m
}

func sum(t testing.TB, ds ...*apd.Decimal) *apd.Decimal {
	t.Helper()
	var s apd.Decimal
	for _, d := range ds {
		if _, err := apd.BaseContext.WithPrecision(34).Add(&s, &s, d); err != nil {
			t.Fatal(err)
		}
	}
	return &s
}

func neg(d *apd.Decimal) *apd.Decimal {
	var n apd.Decimal
	n.Neg(d)
	return &n
}

func eqDec(t testing.TB, what string, got, want *apd.Decimal) {
	t.Helper()
	if got.Cmp(want) != 0 {
		t.Fatalf("%s = %s, want %s", what, got.Text('f'), want.Text('f'))
	}
}

func dec(s string) *apd.Decimal {
	d, _, err := apd.NewFromString(s)
	if err != nil {
		panic(err)
	}
	return d
}

// audit checks every node's ledger audit and that a network's replicas
// converge.
func (tn *testNet) audit(t testing.TB) {
	t.Helper()
	for _, n := range tn.nodes {
		if isClosed(n) {
			continue
		}
		rep, err := n.Store().Audit()
		if err != nil || !rep.OK {
			t.Fatalf("%s audit: %+v %v", n.ID(), rep, err)
		}
	}
}

func isClosed(n *Node) bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}

// blackhole is a TCP listener that accepts connections and never answers
// (a hung upstream). Closed at the end of t.
func blackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String() + "/osp"
}

// deadURL is a service point nobody listens on.
func deadURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/osp"
	ln.Close()
	return u
}

// open returns the network's nodes that are not closed.
func (tn *testNet) open() []*Node {
	var out []*Node
	for _, n := range tn.nodes {
		if !isClosed(n) {
			out = append(out, n)
		}
	}
	return out
}

// syncOpen waits until the open nodes agree on the applied index and the
// state digest.
func (tn *testNet) syncOpen(t testing.TB) {
	t.Helper()
	nodes := tn.open()
	waitFor(t, tn.id+" replicas to converge", 30*time.Second, func() bool {
		d0, err := nodes[0].Store().Digest()
		if err != nil {
			return false
		}
		for _, n := range nodes[1:] {
			d, err := n.Store().Digest()
			if err != nil || d != d0 {
				return false
			}
		}
		return true
	})
}
