// Package node is ospnode's composition root: configuration, lifecycle, the
// OSP HTTP(S) server, the admin API, /metrics and /healthz, and the wiring of
// osp, consensus, ledger, settlement and federation.
//
// node holds no business rule that belongs to one of those packages; it
// decodes, asks, proposes and answers. Open starts a node from a Config;
// Propose replicates a ledger command; the OSP handler answers
// AuthorizationRequest, UsageIndication, AuthorizationIndication,
// CapabilitiesIndication and (always with a refusal) ReauthorizationRequest.
// Cluster failures surface as ErrUnavailable and OSP status 503. See
// DESIGN.md for the request flow, idempotency, quorum loss and the scope of
// admission control.
//
// An authorisation is one pipeline (authorize.go): identify and check the
// input, plan with settlement's policy, admit (admission.go: one component,
// a cache in front of the ledger's replicated admission, handing out
// reservations), then one federation step (federation.go) or local trunks,
// one ledger command, the answer.
//
// Trust (Config.Trust, trust*.go, enroll.go): node wires node/pki into the
// running node — cluster mutual TLS, admin client certificates, revocations
// replicated through the ledger and checked by every TLS listener, the
// cluster transport and token verification, token-key rotation with overlap
// (Node.Reload), and the toolkit's /tep enrollment. See DESIGN.md, "Trust".
package node
