package node

import "io"

// Test-only hooks for package node_test. The multi-node tests live there
// because they run on testnet's harness, and testnet imports node: package
// node's own tests cannot import it, an external test package can. They
// share the OSP message helpers of package node's tests through these names.

// Numbers of the tests' calls (calls_test.go).
const (
	TestCalling = calling
	TestCalled  = called
)

// OSP message helpers of package node's tests (calls_test.go, helpers_test.go).
var (
	TestAuthRequest     = authRequest
	TestUsageIndication = usageIndication
	TestAuthResponse    = authResponse
	TestUsageStatus     = usageStatus
	TestClient          = client
	TestExchange        = exchange
	TestWaitFor         = waitFor
)

// WriteMetricsForTest writes n's Prometheus metrics, as GET /metrics on the
// admin API does.
func (n *Node) WriteMetricsForTest(w io.Writer) { n.writeMetrics(w) }
