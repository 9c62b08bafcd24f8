package osp

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const captureDir = "testdata/osptoolkit-4.33.1"

// capture is one HTTP exchange file split into its framing and body.
type capture struct {
	name        string
	raw         []byte
	isRequest   bool
	contentType string
	body        []byte
}

func captureNames(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(captureDir, "*.http"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no captures in %s: %v", captureDir, err)
	}
	sort.Strings(m)
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func loadCapture(t testing.TB, name string) capture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(captureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	c := capture{name: name, raw: raw}
	br := bufio.NewReader(bytes.NewReader(raw))
	if bytes.HasPrefix(raw, []byte("HTTP/")) {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.contentType = resp.Header.Get("Content-Type")
		c.body, err = io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	} else {
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.isRequest = true
		c.contentType = req.Header.Get("Content-Type")
		c.body, err = io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return c
}

// isOSP reports whether a capture carries OSP XML (the enrollment
// exchanges 12 and 13 do not).
func isOSP(name string) bool {
	return !strings.HasPrefix(name, "12-") && !strings.HasPrefix(name, "13-")
}
