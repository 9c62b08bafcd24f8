package osp

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// etreeShape renders what the decoder reads of an etree document: element
// names, attributes (by local name, first match), leaf text, and whether
// text appears outside the root.
func etreeShape(b *strings.Builder, e *etree.Element) {
	b.WriteString("<" + e.FullTag())
	for _, a := range e.Attr {
		b.WriteString(" " + a.Key + "=" + e.SelectAttrValue(a.Key, "?"))
	}
	b.WriteString(">")
	hasElem := false
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			hasElem = true
			etreeShape(b, c)
		}
	}
	if !hasElem {
		var s strings.Builder
		for _, t := range e.Child {
			if c, ok := t.(*etree.CharData); ok {
				s.WriteString(c.Data)
			}
		}
		b.WriteString("[" + s.String() + "]")
	}
	b.WriteString("</>")
}

func xelemShape(b *strings.Builder, e *xelem) {
	b.WriteString("<" + e.FullTag())
	for _, a := range e.attrs {
		b.WriteString(" " + a.Name.Local + "=" + e.SelectAttrValue(a.Name.Local, "?"))
	}
	b.WriteString(">")
	for _, c := range e.kids {
		xelemShape(b, c)
	}
	if len(e.kids) == 0 {
		b.WriteString("[" + e.text + "]")
	}
	b.WriteString("</>")
}

// FuzzXMLTreeMatchesEtree: the decoder's own tree builder accepts exactly
// what etree (with the settings the decoder used to give it) accepts, and
// reads the same names, attributes and leaf text. It keeps the switch away
// from etree from loosening (or tightening) the wire format.
func FuzzXMLTreeMatchesEtree(f *testing.F) {
	addCaptureSeeds(f, func(c capture) {
		if x, _, err := SplitSigned(c.contentType, c.body); err == nil {
			f.Add(x)
		} else {
			f.Add(c.body)
		}
	})
	for _, s := range []string{
		`<Message><A x="1" x="2" y:x="3">t<!-- c -->u<![CDATA[<v>]]></A></Message>`,
		`<Message><A></B></Message>`, `<Message><A>`, `</Message>`, `<Message/><Message/>`,
		`<Message>&amp;&#65;&bogus;</Message>`, `<Message a=1/>`, `<a:Message xmlns:a="u"><a:B/></a:Message>`,
		"<Message>\n<A>\n1\n</A>\n</Message>\n", ` x <Message/>`, `<Message><A><B><C><D/></C></B></A></Message>`,
	} {
		f.Add([]byte(s))
	}
	const depth = 4
	f.Fuzz(func(t *testing.T, b []byte) {
		doc := etree.NewDocument()
		doc.ReadSettings = etree.ReadSettings{MaxDepth: depth}
		errE := doc.ReadFromBytes(b)
		tree, errX := parseXMLTree(b, depth)
		if (errE == nil) != (errX == nil) {
			t.Fatalf("etree err %v, tree err %v", errE, errX)
		}
		if errE != nil {
			if errors.Is(errE, etree.ErrMaxDepth) != errors.Is(errX, errXMLDepth) {
				t.Fatalf("depth: etree %v, tree %v", errE, errX)
			}
			return
		}
		var want, got strings.Builder
		nonWS := false
		for _, c := range doc.Child {
			switch c := c.(type) {
			case *etree.Element:
				etreeShape(&want, c)
			case *etree.CharData:
				nonWS = nonWS || !c.IsWhitespace()
			}
		}
		for _, c := range tree.kids {
			xelemShape(&got, c)
		}
		if want.String() != got.String() || nonWS != tree.nonWS {
			t.Fatalf("shape differs:\netree %s (text outside root %v)\ntree  %s (%v)", want.String(), nonWS, got.String(), tree.nonWS)
		}
	})
}
