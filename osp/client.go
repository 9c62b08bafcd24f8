package osp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// ServicePoints are the OSP server URLs, tried in order, e.g.
	// "https://osp.example.net:5061/osp". At least one is required.
	ServicePoints []string
	// Timeout bounds one attempt at one service point (default 5s).
	Timeout time.Duration
	// TLSConfig is used for https service points (nil: Go defaults).
	TLSConfig *tls.Config
	// Limits bounds the responses decoded (zero fields: DefaultLimits).
	Limits Limits
	// Logger receives one debug line per failed attempt (nil: discard).
	Logger *slog.Logger
	// Transport overrides the HTTP transport (tests, custom dialers). When
	// set, TLSConfig is ignored.
	Transport http.RoundTripper
}

// Client sends OSP messages to a list of service points, moving to the
// next one on a network error, an HTTP error, an undecodable response or
// an OSP status 503 (as the toolkit does). Connections are kept alive. A
// Client is safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	log  *slog.Logger
}

// NewClient returns a Client for cfg. It fails if there is no service point
// or a service point is not an http(s) URL.
func NewClient(cfg ClientConfig) (*Client, error) {
	return newClient(cfg)
}

// Do sends m to the first service point that answers it, and returns the
// decoded response. The same encoded body is sent on every attempt (OSP
// servers must treat retries idempotently). It returns the last attempt's
// error, wrapped, when every service point failed, or ctx's error when ctx
// ends first. A response whose components carry 503 is retried elsewhere;
// if every point answered 503 the last such response is returned with a
// nil error.
func (c *Client) Do(ctx context.Context, m *Message) (*Message, error) {
	return c.do(ctx, m)
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }
