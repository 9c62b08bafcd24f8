package osp

import (
	"errors"
	"strings"
	"testing"
	"time"

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
		"<Message>\n<A>\n1\n</A>\n</Message>\n", `<?xml version="1.0"?><Message a='x' b="y'"><C d="1"/></Message>`,
		`<Message a="1"b="2"/>`, `<Message><A>x]]>y</A></Message>`, `<Message></Message >`, `<Message x = "1"/>`, `<Message><A>&lt;sip:&amp;&quot;&apos;&gt;&lt</A></Message>`, `<Message><A>&#65;&bogus;</A></Message>`, ` x <Message/>`, `<Message><A><B><C><D/></C></B></A></Message>`,
	} {
		f.Add([]byte(s))
	}
	const depth = 4
	f.Fuzz(func(t *testing.T, b []byte) {
		doc := etree.NewDocument()
		doc.ReadSettings = etree.ReadSettings{MaxDepth: depth}
		errE := doc.ReadFromBytes(b)
		tree, errX := parseXMLTree(b, depth)
		if slow, errS := parseXMLTreeSlow(b, depth); (errS == nil) != (errX == nil) {
			t.Fatalf("fast path err %v, slow path err %v", errX, errS)
		} else if errS == nil {
			var a, c strings.Builder
			for _, k := range slow.kids {
				xelemShape(&a, k)
			}
			for _, k := range tree.kids {
				xelemShape(&c, k)
			}
			if a.String() != c.String() || slow.nonWS != tree.nonWS {
				t.Fatalf("fast and slow trees differ:\nslow %s\nfast %s", a.String(), c.String())
			}
		}
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

// TestXMLFastPathTakesCaptures: the toolkit's own messages (and ours) are
// in the fast path's subset, so the fuzz target above exercises it.
func TestXMLFastPathTakesCaptures(t *testing.T) {
	n := 0
	for _, name := range captureNames(t) {
		c := loadCapture(t, name)
		x, _, err := SplitSigned(c.contentType, c.body)
		if err != nil {
			x = c.body
		}
		if _, err := Decode(x, Limits{}); err != nil {
			continue // a capture of a refusal case
		}
		if _, ok := parseXMLFast(x, DefaultLimits().MaxDepth+1); ok {
			n++
		} else {
			t.Logf("capture %s takes the slow path", name)
		}
	}
	if n == 0 {
		t.Fatal("no capture takes the fast path")
	}
	b, err := Encode(&Message{MessageID: "1", Components: []Component{{ID: "1", UsageConfirmation: &UsageConfirmation{Timestamp: time.Unix(1e9, 0).UTC(), Status: Status{Code: 200}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseXMLFast(b, 8); !ok {
		t.Fatalf("our own encoding takes the slow path: %s", b)
	}
}
