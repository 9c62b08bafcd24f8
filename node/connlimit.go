package node

import (
	"net/http"
	"time"
)

// HTTPLimits bounds the node's HTTP servers (OSP and admin). A zero field
// takes its default (see withDefaults).
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's header block (default
	// 5s): a client that sends headers a byte at a time is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 15s): a body announced longer than it is ends the read.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answer (default 30s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle that long (default
	// 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block (default 16 KiB;
	// larger is answered 431).
	MaxHeaderBytes int
	// MaxConnsPerSource bounds the concurrent connections one source (an
	// IPv4 address or an IPv6 /64) may hold open to the OSP listeners
	// (default 256; a proxy pool behind one address needs a few dozen).
	// MaxConns bounds them all (default 4096). At a bound, the slowest
	// connection of the source (for MaxConns: of the source holding most)
	// that is not processing a request — idle, or still sending its
	// request — is closed to make room; when there is none the newcomer is
	// closed at once. See budget.go.
	MaxConnsPerSource int
	MaxConns          int
	// MaxBodyBytesInFlight bounds the request body bytes read from all OSP
	// clients and not yet decoded (default 64 MiB); MaxSourceBodyBytes one
	// source's share (default 16 MiB, at least osp.Limits.MaxBodyBytes).
	// Over a bound, the slowest request still being read of the source over
	// its share (or of the heaviest source) is cut off; a request that is
	// itself that slowest one is answered 503 with Connection: close.
	MaxBodyBytesInFlight int64
	MaxSourceBodyBytes   int64
	// AdminMaxConnsPerSource and AdminMaxConns are the admin listener's
	// connection bounds, with the same rule (defaults 32 and 256).
	AdminMaxConnsPerSource int
	AdminMaxConns          int
}

// DefaultHTTPLimits returns the values used for zero fields of HTTPLimits.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		MaxConnsPerSource: 256,
		MaxConns:          4096,

		MaxBodyBytesInFlight:   64 << 20,
		MaxSourceBodyBytes:     16 << 20,
		AdminMaxConnsPerSource: 32,
		AdminMaxConns:          256,
	}
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConnsPerSource <= 0 {
		l.MaxConnsPerSource = d.MaxConnsPerSource
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxBodyBytesInFlight <= 0 {
		l.MaxBodyBytesInFlight = d.MaxBodyBytesInFlight
	}
	if l.MaxSourceBodyBytes <= 0 {
		l.MaxSourceBodyBytes = d.MaxSourceBodyBytes
	}
	if l.AdminMaxConnsPerSource <= 0 {
		l.AdminMaxConnsPerSource = d.AdminMaxConnsPerSource
	}
	if l.AdminMaxConns <= 0 {
		l.AdminMaxConns = d.AdminMaxConns
	}
	return l
}

// applyTo sets the server's timeouts and header bound.
func (l HTTPLimits) applyTo(s *http.Server) {
	s.ReadHeaderTimeout = l.ReadHeaderTimeout
	s.ReadTimeout = l.ReadTimeout
	s.WriteTimeout = l.WriteTimeout
	s.IdleTimeout = l.IdleTimeout
	s.MaxHeaderBytes = l.MaxHeaderBytes
}
