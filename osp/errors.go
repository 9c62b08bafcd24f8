package osp

import (
	"errors"
	"fmt"
)

// Sentinel causes carried by *Error; test with errors.Is.
var (
	// ErrMalformed: the body is not well-formed XML, not an OSP Message, or
	// a value is invalid (bad base64, timestamp, number).
	ErrMalformed = errors.New("malformed osp message")
	// ErrLimit: the input exceeds a Limits bound (body size, element count,
	// depth, attribute size, components).
	ErrLimit = errors.New("osp message exceeds a limit")
	// ErrUnknownCritical: an unknown element without critical="false".
	ErrUnknownCritical = errors.New("unsupported critical element")
	// ErrForbiddenMarkup: a DOCTYPE, entity declaration or processing
	// instruction other than the XML declaration.
	ErrForbiddenMarkup = errors.New("forbidden xml markup")
	// ErrFraming: the HTTP framing is unacceptable (chunked or missing
	// length, wrong content type, bad multipart).
	ErrFraming = errors.New("bad osp http framing")
	// ErrEncode: the message cannot be encoded as the toolkit requires.
	ErrEncode = errors.New("osp message cannot be encoded")
)

// Error is the error every decoding and framing function of this package
// returns. Code is the OSP status code a server should answer with (for
// example 400, 411, 412); Err is one of the sentinels above and is
// reachable through errors.Is. Use errors.As to get the code.
type Error struct {
	Code int    // OSP status code to answer with
	Msg  string // what was wrong, lower case
	Err  error  // sentinel cause
}

// Error implements error.
func (e *Error) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("osp: %v (status %d)", e.Err, e.Code)
	}
	return fmt.Sprintf("osp: %v: %s (status %d)", e.Err, e.Msg, e.Code)
}

// Unwrap returns the sentinel cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code int, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Err: cause, Msg: fmt.Sprintf(format, args...)}
}

// ErrorStatus returns the OSP status code to answer err with: the Code of
// an *Error in its chain, else StatusInternalError.
func ErrorStatus(err error) int {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Code
	}
	return StatusInternalError
}
