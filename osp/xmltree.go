package osp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// xelem is one element of the decoder's document tree. It holds only what
// decoding reads: the name, the attributes, the child elements in order and,
// for a leaf, its character data. The tree is built straight from
// encoding/xml's strict tokenizer (the one etree uses, with the same
// settings), so what is well-formed is unchanged; building it ourselves
// skips etree's per-node tokens, its 4 KiB bufio reader per document and
// its per-document attribute map — about half of the decoder's allocations
// on the request path.
type xelem struct {
	Space, Tag string
	attrs      []xml.Attr
	parent     *xelem
	kids       []*xelem
	// text is the concatenated character data while the element has no
	// child element (the only case where decoding reads it); nonWS says
	// whether any character data, before or after child elements, is
	// other than white space.
	text  string
	nonWS bool
}

// errXMLStructure is what a mismatched end tag or a truncated document
// reports (the tokenizer's own errors are passed on as they are).
var errXMLStructure = errors.New("invalid XML structure")

// errXMLDepth is returned when elements nest deeper than the bound.
var errXMLDepth = errors.New("xml: nesting too deep")

// parseXMLTree parses b into a document node (Tag "") whose kids are the
// top-level elements. maxDepth bounds nesting counting the document node,
// as etree's ReadSettings.MaxDepth does. Comments, processing instructions
// and directives are dropped: decoding never reads them (prescan refuses
// the dangerous ones before this runs).
func parseXMLTree(b []byte, maxDepth int) (*xelem, error) {
	// A bytes.Reader is an io.ByteReader: encoding/xml then reads it
	// directly instead of wrapping it in a 4 KiB bufio.Reader.
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	// Encodings are checked before (checkEncoding); pass bytes through as
	// etree's default CharsetReader does.
	dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	doc := &xelem{}
	stack := make([]*xelem, 1, 16)
	stack[0] = doc
	for {
		t, err := dec.RawToken()
		if err == io.EOF {
			if len(stack) != 1 {
				return nil, fmt.Errorf("%w: unclosed <%s>", errXMLStructure, stack[len(stack)-1].FullTag())
			}
			return doc, nil
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := t.(type) {
		case xml.StartElement:
			if len(stack) > maxDepth {
				return nil, errXMLDepth
			}
			e := &xelem{Space: t.Name.Space, Tag: t.Name.Local, parent: top}
			e.attrs = dedupAttrs(t.Attr)
			if len(top.kids) == 0 {
				top.text = "" // it is a container now: its text is never read
			}
			top.kids = append(top.kids, e)
			stack = append(stack, e)
		case xml.EndElement:
			if top == doc || top.Tag != t.Name.Local || top.Space != t.Name.Space {
				return nil, fmt.Errorf("%w: unexpected </%s>", errXMLStructure, fullName(t.Name))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if !isXMLSpace(t) {
				top.nonWS = true
			}
			if len(top.kids) == 0 {
				if top.text == "" {
					top.text = string(t)
				} else {
					top.text += string(t)
				}
			}
		}
	}
}

// dedupAttrs keeps one attribute per name: the first position, the last
// value (etree's rule, so a repeated attribute reads as it did).
func dedupAttrs(as []xml.Attr) []xml.Attr {
	if len(as) < 2 {
		return as
	}
	out := as[:0:0]
	for _, a := range as {
		dup := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i].Value = a.Value
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func fullName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// FullTag is the element name with its prefix, as written.
func (e *xelem) FullTag() string {
	if e.Space == "" {
		return e.Tag
	}
	return e.Space + ":" + e.Tag
}

// Parent is the enclosing element (the document node for a root), or nil.
func (e *xelem) Parent() *xelem { return e.parent }

// SelectAttrValue returns the value of the first attribute whose local name
// is key (key has no prefix; any prefix matches, as in etree), or dflt.
func (e *xelem) SelectAttrValue(key, dflt string) string {
	space, local := "", key
	if i := strings.IndexByte(key, ':'); i >= 0 {
		space, local = key[:i], key[i+1:]
	}
	for _, a := range e.attrs {
		if a.Name.Local == local && (space == "" || a.Name.Space == space) {
			return a.Value
		}
	}
	return dflt
}
