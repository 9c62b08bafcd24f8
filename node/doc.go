// Package node is ospnode's composition root: configuration, lifecycle, the
// OSP HTTP(S) server, the admin API, /metrics and /healthz, and the wiring of
// osp, consensus, ledger, settlement and federation.
//
// node holds no business rule that belongs to one of those packages; it
// decodes, asks, proposes and answers.
package node
