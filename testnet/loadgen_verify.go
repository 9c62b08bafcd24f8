package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/ospnode/ospnode/osp"
)

// UsageLedger answers whether a ledger holds a usage. Implementations must
// be safe for concurrent use.
type UsageLedger interface {
	// HasUsage reports whether u is in the ledger; an error means the
	// question could not be answered.
	HasUsage(ctx context.Context, u ConfirmedUsage) (bool, error)
}

// MissingUsageError is returned by the function VerifyUsages builds when
// confirmed usages are absent from the ledger.
type MissingUsageError struct {
	Missing []ConfirmedUsage // at most the first 100
	Count   int              // how many are missing in all
}

func (e *MissingUsageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d confirmed usage(s) missing from the ledger", e.Count)
	for i, u := range e.Missing {
		if i == 5 {
			b.WriteString(", …")
			break
		}
		fmt.Fprintf(&b, "; txid %d role %s component %s", u.TransactionID, u.Role, u.ComponentID)
	}
	return b.String()
}

// VerifyUsages returns a LoadOptions.Verify function that asks l about
// every confirmed usage, parallel questions at a time (default 8). It fails
// with a *MissingUsageError when some are missing, or with the first lookup
// error.
func VerifyUsages(l UsageLedger, parallel int) func(context.Context, []ConfirmedUsage) error {
	if parallel <= 0 {
		parallel = 8
	}
	return func(ctx context.Context, confirmed []ConfirmedUsage) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			mu       sync.Mutex
			missing  []ConfirmedUsage
			count    int
			firstErr error
			wg       sync.WaitGroup
		)
		work := make(chan ConfirmedUsage)
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range work {
					ok, err := l.HasUsage(ctx, u)
					mu.Lock()
					switch {
					case err != nil:
						if firstErr == nil {
							firstErr = err
							cancel()
						}
					case !ok:
						count++
						if len(missing) < 100 {
							missing = append(missing, u)
						}
					}
					mu.Unlock()
				}
			}()
		}
	feed:
		for _, u := range confirmed {
			select {
			case work <- u:
			case <-ctx.Done():
				break feed
			}
		}
		close(work)
		wg.Wait()
		if firstErr != nil {
			return fmt.Errorf("testnet: verify usage: %w", firstErr)
		}
		if count > 0 {
			return &MissingUsageError{Missing: missing, Count: count}
		}
		return ctx.Err()
	}
}

// ByRole is a UsageLedger that asks Source about source-role usage and
// Destination about destination-role usage: across a chain of networks
// the originating network records the source side and the terminating
// network, whose tokens the terminating proxy got, the destination side.
type ByRole struct {
	Source, Destination UsageLedger
}

// HasUsage implements UsageLedger.
func (b ByRole) HasUsage(ctx context.Context, u ConfirmedUsage) (bool, error) {
	if u.Role == osp.RoleDestination {
		return b.Destination.HasUsage(ctx, u)
	}
	return b.Source.HasUsage(ctx, u)
}

// AdminLedger asks a node's admin API about usages:
//
//	GET {BaseURL}/v1/usage/{transactionId}?role={role}&component={componentId}
//	Authorization: Bearer {Token}
//
// 200 means present, 404 absent; anything else is an error. It is safe for
// concurrent use.
type AdminLedger struct {
	BaseURL string
	Token   string
	// HTTP is the client to use (nil: http.DefaultClient).
	HTTP *http.Client
}

// UsageURL returns the URL HasUsage requests for u.
func (a *AdminLedger) UsageURL(u ConfirmedUsage) string {
	q := url.Values{"role": {u.Role}, "component": {u.ComponentID}}
	return strings.TrimRight(a.BaseURL, "/") + "/v1/usage/" + strconv.FormatUint(u.TransactionID, 10) + "?" + q.Encode()
}

// ErrUsageNotSettled is returned by AdminLedger.HasUsage for a usage the
// ledger holds but will not settle as the call it belongs to: recorded
// unmatched (its transaction unknown where it was sent, or another call's),
// as a conflict, or, for a final record, without a rating.
var ErrUsageNotSettled = errors.New("testnet: usage recorded but not settled")

// checkUsageRecord checks the admin API's record of confirmed usage u: the
// generator only reports calls the network authorised, so each must be
// matched to its transaction, and its final record rated.
func checkUsageRecord(u ConfirmedUsage, body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil // a ledger that only says "present"
	}
	var rec struct {
		Unmatched bool            `json:"unmatched"`
		Mismatch  string          `json:"mismatch"`
		Conflict  bool            `json:"conflict"`
		Phase     string          `json:"phase"`
		Rating    json.RawMessage `json:"rating"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return fmt.Errorf("testnet: usage record of transaction %d: %w", u.TransactionID, err)
	}
	switch {
	case rec.Unmatched:
		return fmt.Errorf("%w: transaction %d role %s recorded unmatched %s", ErrUsageNotSettled, u.TransactionID, u.Role, rec.Mismatch)
	case rec.Conflict:
		return fmt.Errorf("%w: transaction %d role %s recorded as a conflicting final", ErrUsageNotSettled, u.TransactionID, u.Role)
	case rec.Phase == "final" && (len(rec.Rating) == 0 || string(rec.Rating) == "null"):
		return fmt.Errorf("%w: transaction %d role %s matched but not rated", ErrUsageNotSettled, u.TransactionID, u.Role)
	}
	return nil
}

// ErrAdminUnauthorized is returned by AdminLedger.HasUsage on a 401 or 403.
var ErrAdminUnauthorized = errors.New("testnet: admin API refused the token")

// HasUsage implements UsageLedger.
func (a *AdminLedger) HasUsage(ctx context.Context, u ConfirmedUsage) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.UsageURL(u), nil)
	if err != nil {
		return false, err
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	c := a.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		if err := checkUsageRecord(u, body); err != nil {
			return true, fmt.Errorf("%w (at %s)", err, a.BaseURL)
		}
		return true, nil
	case http.StatusNotFound:
		return false, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return false, fmt.Errorf("%w (%s)", ErrAdminUnauthorized, resp.Status)
	}
	return false, fmt.Errorf("testnet: admin API %s: %s", req.URL.Path, resp.Status)
}
