package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// The network and configuration-as-code endpoints:
//
//	GET  /v1/network                 the network (404 before `network init`)
//	POST /v1/network {network}       create it: 201; 200 {"created": false} when the same
//	                                 network exists; 409 when another one does
//	GET  /v1/config                  the running configuration (NetworkConfig)
//	POST /v1/config/apply[?dry_run=&prune=] {NetworkConfig}   the Plan; 400 with every
//	                                 problem (item and field) and nothing written
func (n *Node) adminNetworkRoutes(mux *http.ServeMux) {
	h := n.adminHandle
	mux.HandleFunc("GET /v1/network", h(func(r *http.Request) (int, any, error) {
		if err := n.adminBarrier(r); err != nil {
			return 0, nil, err
		}
		net, err := n.store.Network()
		if isNotFound(err) {
			return 0, nil, notFound("no network configured: run `ospnode network init` (or `ospnode apply -f FILE` with a network section)")
		}
		return http.StatusOK, net, err
	}))
	mux.HandleFunc("POST /v1/network", h(func(r *http.Request) (int, any, error) {
		var net ledger.Network
		if err := readJSON(nil, r, &net); err != nil {
			return 0, nil, err
		}
		ctx, cancel := n.adminCtx(r)
		defer cancel()
		created, err := n.InitNetwork(ctx, net)
		if err != nil {
			return 0, nil, err
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		return code, NetworkInit{Network: net, Created: created}, nil
	}))
	// A whole configuration (500,000 routes: tens of MB, a few hundred
	// proposals) takes longer than the admin server's read and write
	// timeouts, which suit every other request: these two endpoints
	// extend their own deadlines to applyTimeout.
	long := func(fn func(r *http.Request) (int, any, error)) http.HandlerFunc {
		inner := h(fn)
		return func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(applyTimeout))
			_ = rc.SetWriteDeadline(time.Now().Add(applyTimeout))
			inner(w, r)
		}
	}
	mux.HandleFunc("GET /v1/config", long(func(r *http.Request) (int, any, error) {
		ctx, cancel := n.adminCtx(r)
		defer cancel()
		cfg, err := n.ExportConfig(ctx)
		return http.StatusOK, cfg, err
	}))
	mux.HandleFunc("POST /v1/config/apply", long(func(r *http.Request) (int, any, error) {
		var opts ApplyOptions
		var err error
		if opts.DryRun, err = boolParam(r, "dry_run"); err != nil {
			return 0, nil, err
		}
		if opts.Prune, err = boolParam(r, "prune"); err != nil {
			return 0, nil, err
		}
		var cfg NetworkConfig
		dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxCSVBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			if isTooLarge(err) {
				return 0, nil, err
			}
			return 0, nil, badRequest("configuration: %v", err)
		}
		// Applying 500,000 routes is a few hundred proposals: bounded by
		// the client (which cancels by going away) and applyTimeout, not
		// by one request's timeout.
		ctx, cancel := context.WithTimeout(r.Context(), applyTimeout)
		defer cancel()
		plan, err := n.ApplyConfig(ctx, &cfg, opts)
		var ce *ConfigError
		if errors.As(err, &ce) {
			return 0, nil, &httpError{http.StatusBadRequest, ce}
		}
		return http.StatusOK, plan, err
	}))
}

// applyTimeout bounds one POST /v1/config/apply.
const applyTimeout = 30 * time.Minute

// NetworkInit answers POST /v1/network.
type NetworkInit struct {
	Network ledger.Network `json:"network"`
	Created bool           `json:"created"` // false: the same network was already there
}
