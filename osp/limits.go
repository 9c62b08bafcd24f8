package osp

// Limits bounds what the decoder and the HTTP reader accept, so that a
// hostile peer cannot make a node allocate without bound. A zero field
// takes its DefaultLimits value.
type Limits struct {
	// MaxBodyBytes bounds the HTTP body and the XML document.
	MaxBodyBytes int64
	// MaxElements bounds the number of XML elements in a document.
	MaxElements int
	// MaxDepth bounds element nesting.
	MaxDepth int
	// MaxAttrBytes bounds the length of one attribute value.
	MaxAttrBytes int
	// MaxComponents bounds the components of one Message.
	MaxComponents int
}

// DefaultLimits returns the bounds used for zero fields: 1 MiB bodies,
// 20000 elements, depth 16, 256-byte attributes, 64 components. The
// toolkit's largest message (capture 07, two fully populated usage
// components) is 18 KB, 484 elements, depth 7.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:  1 << 20,
		MaxElements:   20000,
		MaxDepth:      16,
		MaxAttrBytes:  256,
		MaxComponents: 64,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxAttrBytes <= 0 {
		l.MaxAttrBytes = d.MaxAttrBytes
	}
	if l.MaxComponents <= 0 {
		l.MaxComponents = d.MaxComponents
	}
	return l
}
