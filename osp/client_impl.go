package osp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

func newClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.ServicePoints) == 0 {
		return nil, errors.New("osp client: no service point")
	}
	for _, sp := range cfg.ServicePoints {
		u, err := url.Parse(sp)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("osp client: service point %q is not an http(s) URL", sp)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.ServicePoints = append([]string(nil), cfg.ServicePoints...)
	cfg.Limits = cfg.Limits.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:               nil,
			TLSClientConfig:     cfg.TLSConfig,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: cfg.Timeout,
		}
	}
	return &Client{cfg: cfg, http: &http.Client{Transport: rt}, log: log}, nil
}

// unavailable reports whether any component of m answers 503, the code
// that sends the toolkit to its next service point.
func unavailable(m *Message) bool {
	for i := range m.Components {
		if st, ok := m.Components[i].Status(); ok && st.Code == StatusUnavailable {
			return true
		}
	}
	return false
}

func (c *Client) do(ctx context.Context, m *Message) (*Message, error) {
	body, err := Encode(m)
	if err != nil {
		return nil, err
	}
	var lastErr error
	var last503 *Message
	for _, sp := range c.cfg.ServicePoints {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		resp, err := c.attempt(ctx, sp, body)
		if err != nil {
			c.log.Debug("osp service point failed", "url", sp, "err", err)
			lastErr = err
			continue
		}
		if unavailable(resp) {
			c.log.Debug("osp service point unavailable", "url", sp)
			last503 = resp
			continue
		}
		return resp, nil
	}
	if last503 != nil {
		return last503, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("osp client: every service point failed: %w", lastErr)
}

func (c *Client) attempt(ctx context.Context, sp string, body []byte) (*Message, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sp, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp, err)
	}
	req.ContentLength = int64(len(body))
	req.Header["Content-Type"] = []string{ContentType}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("%s: http status %s", sp, resp.Status)
	}
	max := c.cfg.Limits.MaxBodyBytes
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%s: %w", sp, errorf(StatusBadRequest, ErrLimit, "response of %d bytes exceeds %d", resp.ContentLength, max))
	}
	buf := getBuf()
	defer putBuf(buf)
	b, err := readAllLimited(resp.Body, *buf, max)
	*buf = b
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp, err)
	}
	msg, err := DecodeBody(resp.Header.Get("Content-Type"), b, c.cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp, err)
	}
	return msg, nil
}

func readAllLimited(r io.Reader, b []byte, max int64) ([]byte, error) {
	for {
		if int64(len(b)) > max {
			return b, errorf(StatusBadRequest, ErrLimit, "response body exceeds %d bytes", max)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
