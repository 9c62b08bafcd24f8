package node_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/testnet"
)

// node's multi-network tests run on testnet's harness (one harness for the
// whole module: testnet boots, seeds, kills and converges networks). They
// are in package node_test because testnet imports node. Every network is
// a real Raft cluster on loopback with its own CA; members are recognised
// by their loopback source address: the carriers of a network dial from
// 127.0.0.2 (source) and 127.0.0.3 (terminating), and networks reach each
// other from 127.0.0.1 (each network's peer-member is registered there).
// What is here is the tests' vocabulary (their networks' records, money
// sums), not a harness.

const (
	addrSource = "127.0.0.2"
	addrDest   = "127.0.0.3"
	addrPeer   = "127.0.0.1"
)

// Shared with package node's tests (export_test.go).
const (
	calling = node.TestCalling
	called  = node.TestCalled
)

var (
	authRequest     = node.TestAuthRequest
	usageIndication = node.TestUsageIndication
	authResponse    = node.TestAuthResponse
	usageStatus     = node.TestUsageStatus
	client          = node.TestClient
	exchange        = node.TestExchange
	waitFor         = node.TestWaitFor
)

// testNet is one peering network of testnet, with the few shorthands the
// federation tests use.
type testNet struct {
	*testnet.Network
	id string
}

// startNet starts a network of size nodes sharing one CA, with only the
// network record set (the tests propose their own members, decks and
// routes). mod adjusts each node's Config.
func startNet(t testing.TB, id string, size int, mod func(*node.Config)) *testNet {
	t.Helper()
	nw := testnet.NewTestNetwork(t, testnet.NetworkSpec{Name: id, Nodes: size, NoDefaults: true}, testnet.Options{
		Configure: func(c *node.Config) {
			c.Cascade = node.CascadeConfig{Interval: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Budget: 2 * time.Second}
			if mod != nil {
				mod(c)
			}
		},
	})
	return &testNet{Network: nw, id: id}
}

// ctx bounds one step of a test on the networks.
func stepCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// node returns running node i, failing t when it is down.
func (tn *testNet) node(t testing.TB, i int) *node.Node {
	t.Helper()
	n := tn.Node(i)
	if n == nil {
		t.Fatalf("%s: node %d is down", tn.id, i)
	}
	return n
}

// leader waits for the network's leader and returns it with its slot.
func (tn *testNet) leader(t testing.TB) (*node.Node, int) {
	t.Helper()
	i, err := tn.WaitForLeader(stepCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return tn.node(t, i), i
}

// propose applies commands through a running node, failing t on a ledger
// error; an unavailable cluster is retried (every command here puts a
// record: idempotent).
func (tn *testNet) propose(t testing.TB, cmds ...ledger.Command) {
	t.Helper()
	ctx := stepCtx(t)
	for _, c := range cmds {
		res, err := tn.Propose(ctx, c)
		if err != nil {
			t.Fatalf("%s: propose %s: %v", tn.id, c.Type(), err)
		}
		if err := res.Err(); err != nil {
			t.Fatalf("%s: propose %s: %v (%s)", tn.id, c.Type(), err, res.Message)
		}
	}
}

// sync waits until the running nodes hold the same state.
func (tn *testNet) sync(t testing.TB) {
	t.Helper()
	if _, err := tn.WaitConverged(stepCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// audit checks every running node's ledger audit.
func (tn *testNet) audit(t testing.TB) {
	t.Helper()
	if err := tn.AssertBooksBalance(); err != nil {
		t.Fatal(err)
	}
}

// urls returns the OSP service points of the network's running nodes.
func (tn *testNet) urls() []ledger.ServicePoint {
	var sps []ledger.ServicePoint
	for _, u := range tn.OSPURLs() {
		sps = append(sps, ledger.ServicePoint{URL: u, Weight: 1})
	}
	return sps
}

// caPEM returns the network's token CA as PEM (what a peer trusts).
func (tn *testNet) caPEM() []string {
	var out []string
	for _, c := range tn.Nodes()[0].CACertificates() {
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}

func (tn *testNet) roots() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range tn.Nodes()[0].CACertificates() {
		p.AddCert(c)
	}
	return p
}

// forwards counts n's forwarding attempts (every outcome), from its
// ospnode_federation_forwards_total metric.
func forwards(t testing.TB, n *node.Node) int {
	t.Helper()
	var sb strings.Builder
	n.WriteMetricsForTest(&sb)
	total := 0
	for _, l := range strings.Split(sb.String(), "\n") {
		if !strings.HasPrefix(l, "ospnode_federation_forwards_total{") {
			continue
		}
		v, err := strconv.Atoi(l[strings.LastIndexByte(l, ' ')+1:])
		if err != nil {
			t.Fatalf("metric line %q: %v", l, err)
		}
		total += v
	}
	return total
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
func fedBalance(t testing.TB, n *node.Node, account string) *apd.Decimal {
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
func margin(t testing.TB, n *node.Node) *apd.Decimal {
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
