package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Enrollment reply statuses of the toolkit's protocol. 0 and 1 are what the
// toolkit's enroll tool understands (issued, pending); any other value is a
// refusal to it.
const (
	EnrollStatusIssued  = 0
	EnrollStatusPending = 1
	EnrollStatusRefused = 2
)

// DefaultEnrollMaxBody caps an enrollment body. The toolkit's request with
// an RSA 2048 CSR is under 1 KiB; 16 KiB leaves room for RSA 4096 and
// refuses floods.
const DefaultEnrollMaxBody = 16 << 10

// EnrollConfig configures NewEnrollmentHandler.
type EnrollConfig struct {
	CA *CA // required; the legacy CA for the stock toolkit
	// Credentials maps enrollment usernames to passwords. A request whose
	// username is listed and whose password matches is signed at once; a
	// listed username with a wrong password is refused.
	Credentials map[string]string
	// OperatorApproval queues requests from unlisted usernames (or without
	// one) for `ospnode ca approve`; when false they are refused.
	OperatorApproval bool
	Kind             Kind          // kind of the issued certificate; zero: KindMember
	Validity         time.Duration // zero: DefaultValidity(Kind)
	MaxBody          int64         // zero: DefaultEnrollMaxBody
	MaxPending       int           // zero: 1000
	// MaxPendingPerSource bounds the requests awaiting approval from one
	// source (an IPv4 address or an IPv6 /64), so that one sender cannot
	// fill the queue and lock everyone out (zero: 5).
	MaxPendingPerSource int
	Logger              *slog.Logger // zero: slog.Default()
}

// PendingRequest is an enrollment request awaiting (or past) approval,
// stored as pending/<ID>.json in the CA directory. The password is never
// stored.
type PendingRequest struct {
	ID       string        `json:"id"` // hex SHA-256 prefix of the CSR: a re-request finds it
	Received time.Time     `json:"received"`
	Subject  string        `json:"subject"`
	Username string        `json:"username,omitempty"`
	Device   string        `json:"device,omitempty"`
	Customer string        `json:"customer,omitempty"`
	Source   string        `json:"source,omitempty"` // the sender's address (IPv6: its /64)
	Kind     Kind          `json:"kind"`
	Validity time.Duration `json:"validity,omitempty"`
	CSR      []byte        `json:"csr"`
	Approved bool          `json:"approved,omitempty"`
	Serial   string        `json:"serial,omitempty"` // set on approval
}

// pendingID names a CSR: the same CSR re-sent maps to the same request.
func pendingID(csrDER []byte) string {
	sum := sha256.Sum256(csrDER)
	return hex.EncodeToString(sum[:8])
}

// Pending returns the enrollment requests not yet approved, oldest first.
func (ca *CA) Pending() ([]PendingRequest, error) {
	all, err := ca.pendingAll()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p PendingRequest) bool { return p.Approved }), nil
}

func (ca *CA) pendingAll() ([]PendingRequest, error) {
	ents, err := os.ReadDir(filepath.Join(ca.dir, pendingDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pending: %w", err)
	}
	var out []PendingRequest
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		p, err := ca.readPending(e.Name()[:len(e.Name())-len(".json")])
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PendingRequest) int { return a.Received.Compare(b.Received) })
	return out, nil
}

func (ca *CA) readPending(id string) (*PendingRequest, error) {
	if len(id) != 16 || !isHex(id) {
		return nil, fmt.Errorf("pending request %q: %w", id, ErrUnknownPending)
	}
	b, err := os.ReadFile(filepath.Join(ca.dir, pendingDir, id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pending request %s: %w", id, ErrUnknownPending)
	}
	if err != nil {
		return nil, fmt.Errorf("read pending request: %w", err)
	}
	var p PendingRequest
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("read pending request %s: %w", id, err)
	}
	return &p, nil
}

func (ca *CA) writePending(p *PendingRequest) error {
	if err := os.MkdirAll(filepath.Join(ca.dir, pendingDir), dirPerm); err != nil {
		return fmt.Errorf("write pending request: %w", err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode pending request: %w", err)
	}
	return writeFileAtomic(filepath.Join(ca.dir, pendingDir, p.ID+".json"), append(b, '\n'), certPerm)
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Approve signs pending request id and marks it approved; the requester
// gets the certificate when it asks again with the same CSR. Approving an
// approved request returns its certificate again. Errors:
// ErrUnknownPending, and SignCSR's.
func (ca *CA) Approve(id string) (*Issued, error) {
	unlock, err := ca.lockPending()
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := ca.readPending(id)
	if err != nil {
		return nil, err
	}
	if p.Approved {
		return ca.issuedBySerial(p.Serial)
	}
	is, err := ca.signCSR(p.CSR, p.Kind, p.Validity, "enroll")
	if err != nil {
		return nil, fmt.Errorf("approve %s: %w", id, err)
	}
	p.Approved, p.Serial = true, is.Serial.String()
	if err := ca.writePending(p); err != nil {
		return nil, err
	}
	return is, nil
}

// issuedBySerial reads issued/<serial>.crt back.
func (ca *CA) issuedBySerial(serial string) (*Issued, error) {
	b, err := os.ReadFile(filepath.Join(ca.dir, issuedDir, serial+".crt"))
	if err != nil {
		return nil, fmt.Errorf("issued certificate %s: %w", serial, err)
	}
	certs, err := ParseCertPEM(b)
	if err != nil {
		// The legacy CA's MD5 certificates parse: Go refuses only to verify
		// MD5 signatures, not to read them.
		return nil, fmt.Errorf("issued certificate %s: %w", serial, err)
	}
	return &Issued{Serial: certs[0].SerialNumber, Cert: certs[0], CertPEM: b}, nil
}

// enrollHandler serves POST /tep.
type enrollHandler struct {
	cfg EnrollConfig
	log *slog.Logger
}

// NewEnrollmentHandler returns the http.Handler for the toolkit's enroll
// tool (mount it at /tep). It answers exactly as the captures show:
// 200, Content-Type text/plain, explicit Content-Length, Connection:
// Keep-Alive, no Date header, and a body that ends in a spare '&' because
// the toolkit overwrites the body's last byte with a NUL.
//
// getcacert replies `certificate=<base64 DER>&`; request replies
// `status=0&cert=<base64 DER>&` (issued), `status=1&` (pending approval) or
// `status=2&` (refused: wrong password, bad CSR, approval disabled). A
// non-POST gets 405, a body above MaxBody 413, an unparsable form 400, and
// a handler without a CA 503.
// The handler does not check the transport: serve request over HTTPS only.
// Safe for concurrent use.
func NewEnrollmentHandler(cfg EnrollConfig) http.Handler {
	if cfg.Kind == "" {
		cfg.Kind = KindMember
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultEnrollMaxBody
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1000
	}
	if cfg.MaxPendingPerSource <= 0 {
		cfg.MaxPendingPerSource = 5
	}
	h := &enrollHandler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

func (h *enrollHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.CA == nil {
		http.Error(w, "enrollment is not configured", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "enrollment takes POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := readLimited(r.Body, h.cfg.MaxBody)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrBodyTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), code)
		return
	}
	form, err := ParseEnrollForm(body)
	if err != nil {
		h.log.Info("enrollment: bad form", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch form.Operation {
	case "getcacert":
		writeEnrollReply(w, "certificate="+base64.StdEncoding.EncodeToString(h.cfg.CA.cert.Raw))
	case "request":
		status, der := h.request(form, r.RemoteAddr)
		if status == EnrollStatusIssued {
			writeEnrollReply(w, "status=0&cert="+base64.StdEncoding.EncodeToString(der))
			return
		}
		writeEnrollReply(w, "status="+strconv.Itoa(status))
	}
}

// readLimited reads at most max bytes, ErrBodyTooLarge beyond.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read enrollment body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("body over %d bytes: %w", max, ErrBodyTooLarge)
	}
	return b, nil
}

// writeEnrollReply writes the toolkit's framing: the spare '&' absorbs the
// toolkit's overwrite of the last byte.
func writeEnrollReply(w http.ResponseWriter, body string) {
	body += "&"
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Connection", "Keep-Alive")
	hd["Date"] = nil // the captured replies carry none
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
}

// request decides one enrollment: (status, certificate DER if issued).
func (h *enrollHandler) request(f *EnrollForm, remote string) (int, []byte) {
	ca := h.cfg.CA
	log := h.log.With("remote", remote, "username", f.Username, "device", f.Device, "customer", f.Customer)
	id := pendingID(f.CSR)

	want, listed := h.cfg.Credentials[f.Username]
	if f.Username == "" {
		listed = false
	}
	// Compare fixed-length digests so neither the length nor the content of
	// the configured password leaks through timing; unlisted users are
	// compared against a dummy so they take the same time.
	got := sha256.Sum256([]byte(f.Password))
	exp := sha256.Sum256([]byte(want))
	match := subtle.ConstantTimeCompare(got[:], exp[:]) == 1 && listed

	unlock, err := ca.lockPending()
	if err != nil {
		log.Error("enrollment: lock", "err", err)
		return EnrollStatusRefused, nil
	}
	defer unlock()
	prev, err := ca.readPending(id)
	if err != nil && !errors.Is(err, ErrUnknownPending) {
		log.Error("enrollment: read pending", "id", id, "err", err)
		return EnrollStatusRefused, nil
	}
	switch {
	case listed && !match:
		log.Warn("enrollment refused: wrong password")
		return EnrollStatusRefused, nil
	case prev != nil && prev.Approved:
		is, err := ca.issuedBySerial(prev.Serial)
		if err != nil {
			log.Error("enrollment: approved certificate unreadable", "id", id, "err", err)
			return EnrollStatusRefused, nil
		}
		log.Info("enrollment: approved certificate delivered", "id", id, "serial", prev.Serial)
		return EnrollStatusIssued, is.Cert.Raw
	case match:
		is, err := ca.signCSR(f.CSR, h.cfg.Kind, h.cfg.Validity, "enroll")
		if err != nil {
			log.Warn("enrollment refused: cannot sign", "err", err)
			return EnrollStatusRefused, nil
		}
		log.Info("enrollment: certificate issued", "serial", is.Serial, "subject", is.Cert.Subject.String())
		return EnrollStatusIssued, is.Cert.Raw
	case prev != nil:
		return EnrollStatusPending, nil
	case !h.cfg.OperatorApproval:
		log.Warn("enrollment refused: unknown user and operator approval disabled")
		return EnrollStatusRefused, nil
	}
	// Queue for an operator. Check the CSR now so the queue holds only
	// signable requests.
	csr, err := parseCSR(f.CSR)
	if err != nil {
		log.Warn("enrollment refused: bad CSR", "err", err)
		return EnrollStatusRefused, nil
	}
	all, err := ca.pendingAll()
	if err != nil {
		log.Error("enrollment: list pending", "err", err)
		return EnrollStatusRefused, nil
	}
	if n := len(all) - countApproved(all); n >= h.cfg.MaxPending {
		log.Warn("enrollment refused", "err", ErrTooManyPending, "pending", n)
		return EnrollStatusRefused, nil
	}
	src := enrollSource(remote)
	if n := countFrom(all, src); n >= h.cfg.MaxPendingPerSource {
		log.Warn("enrollment refused: too many pending requests from this source", "err", ErrTooManyPending, "source", src, "pending", n)
		return EnrollStatusRefused, nil
	}
	p := &PendingRequest{ID: id, Received: ca.now().UTC(), Subject: csr.Subject.String(), Source: src,
		Username: f.Username, Device: f.Device, Customer: f.Customer, Kind: h.cfg.Kind,
		Validity: h.cfg.Validity, CSR: bytes.Clone(f.CSR)}
	if err := ca.writePending(p); err != nil {
		log.Error("enrollment: store pending", "err", err)
		return EnrollStatusRefused, nil
	}
	log.Info("enrollment pending operator approval", "id", id, "subject", p.Subject)
	return EnrollStatusPending, nil
}

func countApproved(ps []PendingRequest) int {
	n := 0
	for _, p := range ps {
		if p.Approved {
			n++
		}
	}
	return n
}

// countFrom counts the requests from src not yet approved.
func countFrom(ps []PendingRequest, src string) int {
	n := 0
	for _, p := range ps {
		if !p.Approved && p.Source == src {
			n++
		}
	}
	return n
}

// enrollSource is the source of a request for the per-source limit: the IP
// of remote ("host:port"), an IPv6 one reduced to its /64 (one host gets a
// whole /64).
func enrollSource(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
