package quality

// Cause kinds of Classify.
const (
	// Answered: the call was answered.
	Answered = iota + 1
	// UserFailure: the called party was busy, did not answer or declined,
	// or the caller gave up (SIP 486/480/487/600/603, Q.850 16/17/18/19/21/31
	// before answer). It counts for NER: the network delivered the call.
	UserFailure
	// NetworkFailure: anything else that did not answer.
	NetworkFailure
)

// q850Offset is how the OSP toolkit (and Kamailio's osp module over it)
// reports a Q.850 release cause in a TerminationCause of type q850 at
// BYE: cause + 10000 (normal clearing arrives as 10016). Failure codes at
// setup arrive as the SIP status itself in the same q850-typed element
// (the captures in node/testdata/kamailio-5.8.8 show TCCode 200 at
// answer).
const q850Offset = 10000

// Classify returns the kind of an attempt (Answered, UserFailure,
// NetworkFailure) from whether it connected and its termination causes:
// sip is a SIP status reported as such (0: none), code the q850-typed
// TCCode as the toolkit sends it. code is read as a Q.850 cause when it is
// below 100 or at least 10000 (cause + 10000), as a SIP status between 100
// and 699 (Kamailio's setup and failure records). A connected call is
// answered whatever the cause says (a BYE's normal clearing included).
func Classify(connected bool, sip, code uint16) int {
	if connected {
		return Answered
	}
	if sip != 0 {
		return sipKind(sip)
	}
	switch {
	case code >= q850Offset:
		return q850Kind(code - q850Offset)
	case code >= 100 && code < 700:
		return sipKind(code)
	case code > 0:
		return q850Kind(code)
	}
	return NetworkFailure
}

func sipKind(s uint16) int {
	switch {
	case s >= 200 && s < 300:
		return Answered
	case s == 486 || s == 480 || s == 603 || s == 487 || s == 600:
		return UserFailure
	}
	return NetworkFailure
}

func q850Kind(c uint16) int {
	switch c {
	case 16, 17, 18, 19, 21, 31: // cleared before answer, busy, no response, no answer, rejected, normal unspecified
		return UserFailure
	}
	return NetworkFailure
}
