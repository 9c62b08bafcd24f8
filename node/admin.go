package node

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
)

// Admin API (JSON over HTTP(S), bearer token on every endpoint). The
// resources live in admin_*.go; this file holds the router, the token
// check and the helpers every handler shares: bounded bodies, error
// mapping and read barriers.
//
//	GET  /v1/status                      consensus view + ledger counters
//	POST /v1/cluster/join|remove|transfer {id, addr} / {id} / {id}
//	GET|POST /v1/network   GET /v1/config   POST /v1/config/apply[?dry_run=&prune=]   (admin_network.go)
//	GET  /v1/members[/{id}]   PUT /v1/members/{id}   POST /v1/members/{id}/suspend|activate
//	GET  /v1/trunks[?member=] PUT|DELETE /v1/trunks/{id}
//	GET  /v1/peers[/{id}]     PUT|DELETE /v1/peers/{id}   GET /v1/outbox[?peer=&limit=]
//	POST /v1/routes/import[?replace=true] (CSV)  GET /v1/routes[?prefix=&limit=]
//	PUT|DELETE /v1/routes/{prefix} (one route, JSON)   GET /v1/routes/lookup?number=[&member=]
//	POST /v1/decks/{id}/versions?counterparty=&direction=&currency=[&decimals=&rounding=&duration_rounding=] (CSV)
//	GET  /v1/decks[/{id}]
//	GET  /v1/cdrs[?member=&from=&to=&number=&unmatched=&over_limit=&after=&limit=&format=json|csv]   (barrier)
//	GET  /v1/usage/{txid}?role=source|destination&component=   200 record / 404
//	GET  /v1/transactions/{txid}   GET /v1/transactions?call_id=   one call: transaction, destinations, every usage record   (barrier)
//	GET  /v1/calls/unfinished[?limit=]   calls that connected but sent no final record by their deadline   (barrier)
//	GET  /v1/balances[?account=&currency=]   GET /v1/audit (200 ok / 409 differences)   (barrier)
//	GET  /v1/periods   POST /v1/periods/close {id, end}
//	GET  /v1/statements?counterparty=&period=[&currency=&format=json|csv|html]   (barrier)
//	POST /v1/reconcile?counterparty=&period=[&tolerance=&skew=&columns=&time_layout=&duration_unit=&format=json|csv|text] (their CDR CSV)
//	GET  /v1/reconcile/internal?period=
//	POST /v1/certs/revoke {serial, reason}   GET /v1/certs/revoked
//	GET /v1/fraud/events|blocks|config   POST /v1/fraud/blocks   POST /v1/fraud/blocks/{id}/release   (admin_fraud.go)
//
// Error bodies are {"error": "..."}. Status codes: 400 invalid input (the
// message names line and field for CSV), 401 no or wrong token, 404 not
// found, 409 rejected by a business rule (or an audit that found
// differences), 413 body too large, 503 no quorum / leader unknown.

// Body bounds. JSON bodies are small; CSV imports (routes, decks, a
// counterparty's CDRs) may be large but never unbounded.
const (
	maxJSONBody = 1 << 20   // 1 MiB
	maxCSVBody  = 256 << 20 // 256 MiB: a 2-million-row deck or a month of CDRs
)

// adminHandler is the admin API. /metrics and /healthz are mounted beside
// it by the node, without the token.
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	n.adminClusterRoutes(mux)
	n.adminBackupRoutes(mux)
	n.adminConfigRoutes(mux)
	n.adminNetworkRoutes(mux)
	n.adminAdmissionRoutes(mux)
	n.adminRouteRoutes(mux)
	n.adminQualityRoutes(mux)
	n.adminDeckRoutes(mux)
	n.adminUsageRoutes(mux)
	n.adminLedgerRoutes(mux)
	n.adminSettleRoutes(mux)
	n.adminFraudRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, fmt.Errorf("no admin endpoint %s %s", r.Method, r.URL.Path))
	})
	return n.requireToken(mux)
}

// requireToken refuses requests without "Authorization: Bearer <token>".
func (n *Node) requireToken(h http.Handler) http.Handler {
	want := []byte(n.adminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.trust.adminCert(r.TLS) { // a listed admin client certificate (trust.go)
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || len(want) == 0 || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ospnode"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeJSON writes v as an indented JSON response with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"encoding response"}`)
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// adminError writes {"error": err} with code, and "reason" when err
// carries one (a *reasonError: a stable word a client can act on, such as
// the CLI saying it in its own flags).
func adminError(w http.ResponseWriter, code int, err error) {
	body := map[string]string{"error": err.Error()}
	var re *reasonError
	if errors.As(err, &re) {
		body["reason"] = re.reason
	}
	writeJSON(w, code, body)
}

// httpError is an error that carries its HTTP status.
type httpError struct {
	code int
	err  error
}

// reasonError gives an error (usually an *httpError) a reason: one of the
// reason* constants, a stable word for clients that act on it.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

// Reasons of a refused request that clients act on.
const (
	// reasonDirectionRequired: a statement of a counterparty with traffic
	// both ways needs direction=sell or direction=buy.
	reasonDirectionRequired = "direction_required"
)

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Errorf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &httpError{http.StatusConflict, fmt.Errorf(format, args...)}
}

// statusOf maps an error of a handler step to its HTTP status: an
// *httpError says so itself; an unavailable cluster is 503; ledger
// sentinels map to 404/409/400; anything else is 500.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.Is(err, http.ErrBodyReadAfterClose):
		return http.StatusBadRequest
	case isTooLarge(err):
		return http.StatusRequestEntityTooLarge
	case unavailable(err), errors.Is(err, consensus.ErrNoQuorum):
		return http.StatusServiceUnavailable
	case errors.Is(err, ledger.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ledger.ErrRejected):
		return http.StatusConflict
	case errors.Is(err, ledger.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// fail writes err with the status statusOf chooses.
func (n *Node) adminFail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code >= 500 && code != http.StatusServiceUnavailable {
		n.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	adminError(w, code, err)
}

// handle adapts a handler that returns (status, value, error): on error it
// writes the mapped error, else v as JSON with status.
func (n *Node) adminHandle(fn func(r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, v, err := fn(r)
		if err != nil {
			n.adminFail(w, r, err)
			return
		}
		writeJSON(w, code, v)
	}
}

// readJSON decodes a bounded JSON body into v, refusing unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if isTooLarge(err) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body: more than one JSON value")
	}
	return nil
}

// csvBody returns the request body bounded to maxCSVBody.
func csvBody(w http.ResponseWriter, r *http.Request) io.Reader {
	return http.MaxBytesReader(w, r.Body, maxCSVBody)
}

// opContext bounds one admin operation (a propose, a barrier).
func (n *Node) adminCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), max(n.cfg.RequestTimeout, 10*time.Second))
}

// barrier makes the following local reads linearizable: they see every
// write committed before the request arrived.
func (n *Node) adminBarrier(r *http.Request) error {
	ctx, cancel := n.adminCtx(r)
	defer cancel()
	if err := n.cons.Barrier(ctx); err != nil {
		return fmt.Errorf("%w: read barrier: %w", ErrUnavailable, err)
	}
	return nil
}

// apply proposes cmd and turns a non-OK result into an error that statusOf
// maps (Invalid 400, NotFound 404, Rejected 409).
func (n *Node) adminApply(r *http.Request, cmd ledger.Command) (*ledger.Result, error) {
	ctx, cancel := n.adminCtx(r)
	defer cancel()
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", cmd.Type(), err)
	}
	return res, nil
}

// intParam parses an optional integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, badRequest("query parameter %s=%q: want an integer in %d..%d", name, s, lo, hi)
	}
	return v, nil
}

// timeParam parses an optional time query parameter: RFC 3339, or a UTC
// date 2006-01-02.
func timeParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseAdminTime(s)
	if err != nil {
		return time.Time{}, badRequest("query parameter %s: %v", name, err)
	}
	return t, nil
}

func parseAdminTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a date 2006-01-02", s)
}

// boolParam parses an optional boolean query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("query parameter %s=%q: want true or false", name, s)
	}
	return v, nil
}

// emptyIfNil makes JSON lists render as [] rather than null.
func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
