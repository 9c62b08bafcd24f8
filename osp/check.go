package osp

// CheckToolkitRules reports whether an encoded OSP document (bare XML)
// obeys every rule the OSP Toolkit imposes on what a server sends it
// (design/OSP-WIRE.md, "XML it accepts from us"). It parses independently
// of Decode so that it can check Encode. It returns nil or an error naming
// the first broken rule. Safe for concurrent use.
func CheckToolkitRules(xmlDoc []byte) error {
	return checkRules(xmlDoc)
}

func checkRules(b []byte) error { return errorf(StatusInternalError, ErrEncode, "not implemented yet") }
