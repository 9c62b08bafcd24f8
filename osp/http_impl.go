package osp

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// bodyPool recycles request and response buffers: Decode copies every
// value it keeps, so a body buffer is free again once decoding returns.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bodyPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 { // do not pin large buffers
		return
	}
	*b = (*b)[:0]
	bodyPool.Put(b)
}

func readRequest(r *http.Request, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	for _, te := range r.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			return nil, errorf(StatusBadRequest, ErrFraming, "chunked request body: Content-Length is required")
		}
	}
	if r.ContentLength < 0 {
		return nil, errorf(StatusBadRequest, ErrFraming, "request without Content-Length")
	}
	if r.ContentLength > lim.MaxBodyBytes {
		return nil, errorf(StatusBadRequest, ErrLimit, "body of %d bytes exceeds %d", r.ContentLength, lim.MaxBodyBytes)
	}
	if r.ContentLength == 0 {
		return nil, errorf(StatusBadRequest, ErrFraming, "empty request body")
	}
	buf := getBuf()
	defer putBuf(buf)
	b, err := readBody(r.Body, (*buf)[:0], int(r.ContentLength))
	*buf = b
	if err != nil {
		return nil, errorf(StatusBadRequest, ErrFraming, "reading body: %v", err)
	}
	return decodeBody(r.Header.Get("Content-Type"), b, lim)
}

// readBody reads exactly n bytes of r into b, growing b only as bytes
// arrive (doubling, capped at n): the memory a request holds is bounded by
// what its sender actually sent, never by the length it announced. (It
// used to allocate the announced length up front: 1,500 connections each
// announcing 1 MiB and sending nothing held 1.5 GB.)
func readBody(r io.Reader, b []byte, n int) ([]byte, error) {
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(max(2*cap(b), 4096), n))
			copy(nb, b)
			b = nb
		}
		k, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+k]
		if err != nil {
			if err == io.EOF && len(b) == n {
				break
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return b, err
		}
	}
	return b, nil
}

func decodeBody(contentType string, body []byte, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	if int64(len(body)) > lim.MaxBodyBytes {
		return nil, errorf(StatusBadRequest, ErrLimit, "body of %d bytes exceeds %d", len(body), lim.MaxBodyBytes)
	}
	if contentType == "" {
		return decode(body, lim)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, errorf(StatusBadRequest, ErrFraming, "content type %q: %v", contentType, err)
	}
	switch mt {
	case "text/plain", "text/xml", "application/xml":
		return decode(body, lim)
	case "multipart/signed":
		x, _, err := splitSigned(contentType, body)
		if err != nil {
			return nil, err
		}
		return decode(x, lim)
	}
	return nil, errorf(StatusBadRequest, ErrFraming, "content type %q is not an OSP body", mt)
}

func splitSigned(contentType string, body []byte) ([]byte, []byte, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/signed" {
		return nil, nil, errorf(StatusBadRequest, ErrFraming, "content type %q is not multipart/signed", contentType)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, nil, errorf(StatusBadRequest, ErrFraming, "multipart/signed without boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts [2][]byte
	for i := 0; i < 2; i++ {
		p, err := mr.NextRawPart()
		if err != nil {
			return nil, nil, errorf(StatusBadRequest, ErrFraming, "multipart/signed part %d: %v", i+1, err)
		}
		// A part can never be larger than the body that holds it.
		b, err := io.ReadAll(io.LimitReader(p, int64(len(body))))
		if err != nil {
			return nil, nil, errorf(StatusBadRequest, ErrFraming, "multipart/signed part %d: %v", i+1, err)
		}
		// The toolkit's framing (capture 11) adds a blank line before each
		// boundary; the part's own Content-Length, when given, is exact.
		if n, err := strconv.Atoi(p.Header.Get("Content-Length")); err == nil && n >= 0 && n <= len(b) {
			b = b[:n]
		}
		parts[i] = b
	}
	if len(bytes.TrimSpace(parts[0])) == 0 {
		return nil, nil, errorf(StatusBadRequest, ErrFraming, "multipart/signed with an empty content part")
	}
	return parts[0], parts[1], nil
}

func writeMessage(w http.ResponseWriter, m *Message) error {
	buf := getBuf()
	defer putBuf(buf)
	b, err := AppendEncode(*buf, m)
	if err != nil {
		return err
	}
	*buf = b
	return writeBody(w, ContentType, b)
}

// writeBody writes a 200 response with an explicit Content-Length: Go's
// net/http would otherwise chunk a body it cannot size, and the toolkit
// fails on chunked responses.
func writeBody(w http.ResponseWriter, contentType string, b []byte) error {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// signedBoundary separates the parts of a multipart/signed response.
const signedBoundary = "ospnode-signed-boundary"

func writeSignedMessage(w http.ResponseWriter, m *Message, signature []byte) error {
	x, err := Encode(m)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Grow(len(x) + len(signature) + 256)
	b.WriteString("\r\n--" + signedBoundary + "\r\n")
	b.WriteString("Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(x)) + "\r\n\r\n")
	b.Write(x)
	b.WriteString("\r\n--" + signedBoundary + "\r\n")
	b.WriteString("Content-Type: application/pkcs7-signature\r\nContent-Length: " + strconv.Itoa(len(signature)) + "\r\n\r\n")
	b.Write(signature)
	b.WriteString("\r\n--" + signedBoundary + "--\r\n")
	ct := `multipart/signed; protocol="application/pkcs7-signature"; micalg=sha1; boundary=` + signedBoundary
	return writeBody(w, ct, b.Bytes())
}
