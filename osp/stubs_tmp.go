package osp

import (
	"context"
	"errors"
	"net/http"
)

func readRequest(r *http.Request, lim Limits) (*Message, error) { return nil, errors.New("todo") }
func writeMessage(w http.ResponseWriter, m *Message) error      { return errors.New("todo") }
func writeSignedMessage(w http.ResponseWriter, m *Message, s []byte) error {
	return errors.New("todo")
}
func decodeBody(ct string, body []byte, lim Limits) (*Message, error) { return nil, errors.New("todo") }
func splitSigned(ct string, body []byte) ([]byte, []byte, error)      { return nil, nil, errors.New("todo") }
func newClient(cfg ClientConfig) (*Client, error)                     { return nil, errors.New("todo") }
func (c *Client) do(ctx context.Context, m *Message) (*Message, error) {
	return nil, errors.New("todo")
}
