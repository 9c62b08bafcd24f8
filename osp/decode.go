package osp

func decode(b []byte, lim Limits) (*Message, error) {
	return nil, errorf(StatusInternalError, ErrMalformed, "not implemented yet")
}
