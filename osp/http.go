package osp

import "net/http"

// ContentType is the Content-Type of OSP requests and responses.
const ContentType = "text/plain"

// ReadRequest reads and decodes the body of an OSP POST request on the
// server side. It accepts text/plain (any parameters) and
// multipart/signed bodies (the first part is the XML; the signature part is
// not verified, as the stock toolkit does not check it either). It refuses
// chunked or length-less bodies and bodies above lim.MaxBodyBytes without
// reading them whole. Every failure is an *Error (ErrFraming, ErrLimit or a
// decoding cause) carrying the OSP status code to answer with.
func ReadRequest(r *http.Request, lim Limits) (*Message, error) {
	return readRequest(r, lim)
}

// WriteMessage encodes m and writes it as an OSP HTTP response the toolkit
// accepts: status 200 with reason phrase, Content-Type text/plain,
// Content-Length always set (the toolkit fails on chunked bodies), a small
// header block. OSP failures travel as a Status inside m, never as an HTTP
// error. It returns the encoding or the write error.
func WriteMessage(w http.ResponseWriter, m *Message) error {
	return writeMessage(w, m)
}

// WriteSignedMessage writes m as a multipart/signed response (capture 11)
// with signature as the application/pkcs7-signature part. The stock toolkit
// does not verify that part.
func WriteSignedMessage(w http.ResponseWriter, m *Message, signature []byte) error {
	return writeSignedMessage(w, m, signature)
}

// DecodeBody decodes an OSP HTTP body given its Content-Type: text/plain
// (or empty, or text/xml from other implementations) is bare XML,
// multipart/signed is unwrapped first. Used by the client and by tools
// reading captures.
func DecodeBody(contentType string, body []byte, lim Limits) (*Message, error) {
	return decodeBody(contentType, body, lim)
}

// SplitSigned returns the XML part and the signature part of a
// multipart/signed body with the given Content-Type. The signature is
// returned unverified. Failures are *Error wrapping ErrFraming.
func SplitSigned(contentType string, body []byte) (xmlPart, signature []byte, err error) {
	return splitSigned(contentType, body)
}
