package node

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// adminHandler is the admin API (JSON over HTTP(S), bearer token). This is
// the minimal version: GET /v1/status. /metrics and /healthz are mounted
// beside it by the node, without the token.
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.cons.Status())
	})
	return n.requireToken(mux)
}

// requireToken refuses requests without "Authorization: Bearer <token>".
func (n *Node) requireToken(h http.Handler) http.Handler {
	want := []byte(n.adminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
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
