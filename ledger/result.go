package ledger

import (
	"errors"
	"fmt"
)

// ResultCode classifies the outcome of one applied command.
type ResultCode uint8

// Result codes. Append only (they are stored inside idempotency records).
const (
	// OK: applied.
	OK ResultCode = 0
	// Duplicate: an idempotent repeat; the result carries the first outcome.
	Duplicate ResultCode = 1
	// NotFound: the command names a record that does not exist.
	NotFound ResultCode = 2
	// Rejected: a business rule refused the command (unbalanced postings,
	// unknown member, period order, ...). Nothing was written.
	Rejected ResultCode = 3
	// Invalid: the payload could not be decoded or fails validation.
	Invalid ResultCode = 4
	// Ignored: an unknown ignorable command type was skipped.
	Ignored ResultCode = 5
	// RefusedCPS, RefusedConcurrent, RefusedCredit: cluster-wide admission
	// (Authorize.ActiveUntil) refused an authorisation: the member's calls
	// per second, concurrent calls or credit limit. Nothing was written.
	RefusedCPS        ResultCode = 6
	RefusedConcurrent ResultCode = 7
	RefusedCredit     ResultCode = 8
	// Stale: a usage (RecordUsage version 4) names a transaction that
	// exists, but its proposer did not have it: the proposer's replica was
	// behind, so it could not rate the usage. Nothing was written; the
	// proposer waits for its replica and proposes again, or answers so
	// that the client retries.
	Stale ResultCode = 9
)

// String names the code.
func (c ResultCode) String() string {
	switch c {
	case OK:
		return "ok"
	case Duplicate:
		return "duplicate"
	case NotFound:
		return "not-found"
	case Rejected:
		return "rejected"
	case Invalid:
		return "invalid"
	case Ignored:
		return "ignored"
	case RefusedCPS:
		return "refused-cps"
	case RefusedConcurrent:
		return "refused-concurrent"
	case RefusedCredit:
		return "refused-credit"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Result is what Apply returns for one command, encoded with EncodeResult
// (ApplyBatch's per-command []byte) and read back with DecodeResult.
type Result struct {
	Code    ResultCode
	Message string
	// TransactionID and Transaction: Authorize (the first one on Duplicate).
	TransactionID uint64
	Transaction   *Transaction
	// UsageID, PostingID, OutboxID, Unmatched, LateAdjustment: RecordUsage
	// (PostingID also for PostEntry).
	UsageID        uint64
	PostingID      uint64
	OutboxID       uint64
	Unmatched      bool
	LateAdjustment bool
	// Conflict: the usage is a final record that disagrees with its
	// call's paid final: recorded, flagged, not paid.
	Conflict bool
	// Count: how many records a bulk command (PutRoutes, AckOutbox,
	// PutDeckVersion rows) touched.
	Count int
}

// Err returns nil for OK and Duplicate, else an error wrapping ErrRejected,
// ErrNotFound, ErrInvalid or ErrIgnored with the message.
func (r *Result) Err() error {
	var s error
	switch r.Code {
	case OK, Duplicate:
		return nil
	case NotFound:
		s = ErrNotFound
	case Rejected:
		s = ErrRejected
	case Invalid:
		s = ErrInvalid
	case Ignored:
		s = ErrIgnored
	case RefusedCPS, RefusedConcurrent, RefusedCredit:
		s = ErrRefused
	case Stale:
		s = ErrStale
	default:
		s = ErrRejected
	}
	return fmt.Errorf("%w: %s", s, r.Message)
}

// Sentinels returned by Result.Err and by read APIs.
var (
	ErrNotFound = errors.New("ledger: not found")
	ErrRejected = errors.New("ledger: rejected")
	ErrInvalid  = errors.New("ledger: invalid command")
	ErrIgnored  = errors.New("ledger: ignored command")
	// ErrRefused: an admission limit refused an authorisation (the
	// Result's code says which).
	ErrRefused = errors.New("ledger: refused by an admission limit")
	// ErrStale: the proposer's replica was behind the transaction its
	// usage names (Result code Stale); propose again once caught up.
	ErrStale = errors.New("ledger: proposer's replica is behind")
	// ErrLocked: Open waited Options.LockTimeout for the file's lock, which
	// another process holds (a running node, or another ospnode command
	// on the same data directory).
	ErrLocked = errors.New("ledger: file locked")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("ledger: store closed")
	// ErrReadOnly is returned (or, from ApplyBatch, panicked with) by every
	// write to a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("ledger: store opened read-only")
)

const resultVersion = 1

// EncodeResult renders r in the compact binary form ApplyBatch returns.
func EncodeResult(r *Result) []byte {
	var w wbuf
	w.b = make([]byte, 0, 32+len(r.Message))
	w.byte1(resultVersion)
	w.byte1(byte(r.Code))
	w.str(r.Message)
	w.u(r.TransactionID)
	w.u(r.UsageID)
	w.u(r.PostingID)
	w.u(r.OutboxID)
	var flags byte
	if r.Unmatched {
		flags |= 1
	}
	if r.LateAdjustment {
		flags |= 2
	}
	if r.Transaction != nil {
		flags |= 4
	}
	if r.Conflict {
		flags |= 8
	}
	w.byte1(flags)
	w.u(uint64(r.Count))
	if r.Transaction != nil {
		encodeTransaction(&w, r.Transaction)
	}
	return w.b
}

// ResultHead reads only the code and the TransactionID of an encoded
// result, without allocating: for watchers of the applied log that skip
// most results (false: empty or not a result).
func ResultHead(b []byte) (ResultCode, uint64, bool) {
	if len(b) < 2 || b[0] != resultVersion {
		return 0, 0, false
	}
	r := rbuf{b: b[2:]}
	if n := r.u(); r.err != nil || n > uint64(len(r.b)) {
		return 0, 0, false
	} else {
		r.b = r.b[n:]
	}
	tx := r.u()
	if r.err != nil {
		return 0, 0, false
	}
	return ResultCode(b[1]), tx, true
}

// DecodeResult parses what EncodeResult wrote. A nil or empty b (ApplyBatch
// skipped the entry because it was already applied) is an error.
func DecodeResult(b []byte) (*Result, error) {
	if len(b) == 0 {
		return nil, errors.New("ledger: empty result (entry already applied)")
	}
	r := rbuf{b: b}
	if v := r.byte1(); v != resultVersion {
		return nil, fmt.Errorf("ledger: result version %d not supported", v)
	}
	res := &Result{Code: ResultCode(r.byte1())}
	res.Message = r.str()
	res.TransactionID = r.u()
	res.UsageID = r.u()
	res.PostingID = r.u()
	res.OutboxID = r.u()
	flags := r.byte1()
	res.Unmatched = flags&1 != 0
	res.LateAdjustment = flags&2 != 0
	res.Conflict = flags&8 != 0
	res.Count = int(r.u())
	if flags&4 != 0 {
		res.Transaction = decodeTransaction(&r)
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("ledger: decode result: %w", err)
	}
	return res, nil
}
