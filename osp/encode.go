package osp

func appendMessage(dst []byte, m *Message) ([]byte, error) {
	return dst, errorf(StatusInternalError, ErrEncode, "not implemented yet")
}
