package osp

// OSP status codes. The OSP Toolkit (OSPPUtilGetErrorFromStatus) maps each
// of these to its own error; any other 4xx, 5xx or 6xx becomes a generic
// client, server or global error. A code above 299 in an
// AuthorizationResponse is a refusal: send no Destination with it.
const (
	StatusOK                         = 200 // success
	StatusBadRequest                 = 400 // malformed request
	StatusUnauthorized               = 401 // unknown or unauthenticated member
	StatusRouteBlocked               = 403 // blocked / forbidden by policy
	StatusNoRoute                    = 404 // no route to the called number
	StatusMayNotOriginate            = 405 // the source may not originate calls
	StatusCharEncodingUnsupported    = 410 // character encoding not supported
	StatusParseFailed                = 411 // the XML could not be parsed
	StatusUnsupportedCriticalElement = 412 // an unknown element without critical="false"
	StatusSecurityProblem            = 420
	StatusSignatureInvalid           = 421
	StatusCryptoAlgorithmUnsupported = 422
	StatusCertificateInvalid         = 423
	StatusCertificateRevoked         = 424
	StatusEncryptionRequired         = 425
	StatusCallingInvalid             = 428 // calling number invalid
	StatusCallRateExceeded           = 441 // rate limited
	StatusCalledFiltering            = 484 // called number filtered
	StatusDestinationInfoInvalid     = 489
	StatusInternalError              = 500
	StatusUnimplemented              = 501
	StatusUnavailable                = 503 // the toolkit tries its next service point
	StatusTransientProblem           = 510
	StatusLongTermProblem            = 520
	StatusTimeProblem                = 530
	StatusValidTimeTooSoon           = 531
	StatusTimeIntervalTooSmall       = 532
	StatusDecline                    = 603
	StatusNetworkBlocked             = 9603
	StatusGenericFailure             = 999
)

// StatusReauthorizationRefused is the code to answer every
// ReauthorizationRequest with: the server does not implement
// reauthorisation. (The stock toolkit crashes on any ReauthorizationResponse
// it can parse, this refusal included; the encoder adds
// ElemReauthUnsupported so that it refuses the answer while parsing.)
const StatusReauthorizationRefused = StatusUnimplemented

var statusText = map[int]string{
	StatusOK:                         "success",
	StatusBadRequest:                 "bad request",
	StatusUnauthorized:               "unauthorized",
	StatusRouteBlocked:               "route blocked",
	StatusNoRoute:                    "no route found",
	StatusMayNotOriginate:            "may not originate",
	StatusCharEncodingUnsupported:    "character encoding not supported",
	StatusParseFailed:                "parsing unsuccessful",
	StatusUnsupportedCriticalElement: "unsupported critical element",
	StatusSecurityProblem:            "security problem",
	StatusSignatureInvalid:           "signature invalid",
	StatusCryptoAlgorithmUnsupported: "cryptographic algorithm not supported",
	StatusCertificateInvalid:         "certificate invalid",
	StatusCertificateRevoked:         "certificate revoked",
	StatusEncryptionRequired:         "encryption required",
	StatusCallingInvalid:             "calling number invalid",
	StatusCallRateExceeded:           "call rate exceeded",
	StatusCalledFiltering:            "called number filtered",
	StatusDestinationInfoInvalid:     "destination information invalid",
	StatusInternalError:              "internal server error",
	StatusUnimplemented:              "not implemented",
	StatusUnavailable:                "service unavailable",
	StatusTransientProblem:           "transient server problem",
	StatusLongTermProblem:            "long term server problem",
	StatusTimeProblem:                "time problem",
	StatusValidTimeTooSoon:           "valid time too soon",
	StatusTimeIntervalTooSmall:       "time interval too small",
	StatusDecline:                    "decline",
	StatusNetworkBlocked:             "network blocked",
	StatusGenericFailure:             "generic failure",
}

// StatusText returns a short description for an OSP status code, suitable
// as a Status Description ("" for an unknown code).
func StatusText(code int) string { return statusText[code] }

// NewStatus returns a Status with code and its StatusText (or "failure"
// when the code has none, since the toolkit needs a Description).
func NewStatus(code int) Status {
	d := statusText[code]
	if d == "" {
		d = "failure"
		if code > 199 && code < 300 {
			d = "success"
		}
	}
	return Status{Code: code, Description: d}
}
