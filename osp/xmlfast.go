package osp

import (
	"encoding/xml"
)

// parseXMLFast builds the tree of a document written in the plain subset
// every OSP implementation sends: an optional `<?xml version="1.0"?>`-style
// declaration, ASCII element and attribute names without prefixes,
// double- or single-quoted printable-ASCII attribute values without '&' or
// '<', and text of printable ASCII, tab and line feed, with the five
// predefined entity references (the toolkit escapes SIP URIs) and without
// "]]>". It reports ok == false for anything outside that subset — or
// malformed — and the caller then parses with encoding/xml, which gives
// the authoritative answer and error. So the fast path only ever accepts
// documents encoding/xml accepts, with the same tree
// (FuzzXMLTreeMatchesEtree checks both paths against etree).
//
// All strings of the tree are substrings of one copy of b: one allocation
// for the text of the whole document.
func parseXMLFast(b []byte, maxDepth int) (*xelem, bool) {
	s := string(b)
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '<' {
			n++
		}
	}
	slab := make([]xelem, 0, n+1)
	newElem := func() *xelem {
		slab = append(slab, xelem{})
		return &slab[len(slab)-1]
	}
	doc := newElem()
	stack := make([]*xelem, 1, 16)
	stack[0] = doc
	i := 0
	// The declaration, if any, must be first; only version 1.0 and the
	// encodings that read as UTF-8 here are taken.
	if len(s) >= 5 && s[:5] == "<?xml" {
		end := indexFrom(s, "?>", 5)
		if end < 0 || !plainDecl(s[5:end]) {
			return nil, false
		}
		i = end + 2
	}
	for i < len(s) {
		top := stack[len(stack)-1]
		if s[i] != '<' {
			j := i
			amp := false
			for j < len(s) && s[j] != '<' {
				c := s[j]
				switch {
				case c == '&':
					k := predefinedEntity(s[j:])
					if k == 0 {
						return nil, false
					}
					amp = true
					j += k
					continue
				case c == '\r', c >= 0x7f, c < 0x20 && c != '\t' && c != '\n':
					return nil, false
				case c == '>' && j >= i+2 && s[j-1] == ']' && s[j-2] == ']':
					return nil, false
				}
				j++
			}
			t := s[i:j]
			if amp {
				t = unescapePredefined(t)
			}
			if !isXMLSpace([]byte(t)) {
				if top == doc {
					return nil, false
				}
				top.nonWS = true
			}
			if len(top.kids) == 0 && top != doc {
				if top.text == "" {
					top.text = t
				} else {
					return nil, false // text split by something: not in the subset
				}
			}
			i = j
			continue
		}
		// s[i] == '<'
		if i+1 >= len(s) {
			return nil, false
		}
		if s[i+1] == '/' {
			j, name, ok := scanName(s, i+2)
			if !ok {
				return nil, false
			}
			for j < len(s) && isSpaceByte(s[j]) {
				j++
			}
			if j >= len(s) || s[j] != '>' || top == doc || top.Tag != name {
				return nil, false
			}
			stack = stack[:len(stack)-1]
			i = j + 1
			continue
		}
		j, name, ok := scanName(s, i+1)
		if !ok {
			return nil, false // comments, CDATA, PIs, directives, bad names
		}
		if len(stack) > maxDepth || (top == doc && len(doc.kids) > 0) {
			return nil, false
		}
		e := newElem()
		e.Tag, e.parent = name, top
		if len(top.kids) == 0 {
			top.text = ""
		}
		top.kids = append(top.kids, e)
		selfClose := false
		for {
			sp := j
			for j < len(s) && isSpaceByte(s[j]) {
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			if s[j] == '>' {
				j++
				break
			}
			if s[j] == '/' {
				if j+1 >= len(s) || s[j+1] != '>' {
					return nil, false
				}
				j += 2
				selfClose = true
				break
			}
			if j == sp {
				return nil, false // attributes must be separated by white space
			}
			var an string
			if j, an, ok = scanName(s, j); !ok {
				return nil, false
			}
			if j >= len(s) || s[j] != '=' {
				return nil, false
			}
			j++
			if j >= len(s) || (s[j] != '"' && s[j] != '\'') {
				return nil, false
			}
			q := s[j]
			j++
			vs := j
			for j < len(s) && s[j] != q {
				if c := s[j]; c < 0x20 || c >= 0x7f || c == '&' || c == '<' {
					return nil, false
				}
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			a := xml.Attr{Name: xml.Name{Local: an}, Value: s[vs:j]}
			j++
			dup := false
			for k := range e.attrs {
				if e.attrs[k].Name.Local == an {
					e.attrs[k].Value = a.Value
					dup = true
				}
			}
			if !dup {
				e.attrs = append(e.attrs, a)
			}
		}
		if !selfClose {
			stack = append(stack, e)
		}
		i = j
	}
	if len(stack) != 1 {
		return nil, false
	}
	return doc, true
}

// predefinedEntity returns the length of the XML predefined entity
// reference at the start of s ("&lt;" …), or 0.
func predefinedEntity(s string) int {
	for _, e := range [...]string{"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"} {
		if len(s) >= len(e) && s[:len(e)] == e {
			return len(e)
		}
	}
	return 0
}

// unescapePredefined replaces the predefined entity references of t
// (already checked by predefinedEntity).
func unescapePredefined(t string) string {
	out := make([]byte, 0, len(t))
	for i := 0; i < len(t); {
		if t[i] != '&' {
			out = append(out, t[i])
			i++
			continue
		}
		k := predefinedEntity(t[i:])
		switch t[i+1] {
		case 'l':
			out = append(out, '<')
		case 'g':
			out = append(out, '>')
		case 'q':
			out = append(out, '"')
		default: // &amp; or &apos;
			if t[i+2] == 'm' {
				out = append(out, '&')
			} else {
				out = append(out, '\'')
			}
		}
		i += k
	}
	return string(out)
}

// scanName reads an unprefixed ASCII XML name at s[i:], returning the
// index after it.
func scanName(s string, i int) (int, string, bool) {
	j := i
	for j < len(s) {
		c := s[j]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || j > i && (c >= '0' && c <= '9' || c == '-' || c == '.') {
			j++
			continue
		}
		break
	}
	if j == i || j >= len(s) {
		return i, "", false
	}
	if c := s[j]; !isSpaceByte(c) && c != '>' && c != '/' && c != '=' {
		return i, "", false // ':' or any other byte: not in the subset
	}
	return j, s[i:j], true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// plainDecl accepts the inside of the declarations OSP implementations
// write (version 1.0, optionally a UTF-8 encoding and standalone).
func plainDecl(d string) bool {
	switch d {
	case ` version="1.0"`, ` version="1.0" encoding="UTF-8"`, ` version="1.0" encoding="utf-8"`,
		` version='1.0'`, ` version="1.0" encoding="UTF-8" standalone="yes"`, ` version="1.0" standalone="yes"`:
		return true
	}
	return false
}
