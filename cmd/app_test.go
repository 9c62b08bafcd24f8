package cmd

import (
	"bytes"
	"strings"
	"testing"
)

// run executes the app in-process and returns its exit code and outputs.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(append([]string{"ospnode"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "ospnode ") {
		t.Fatalf("version: code %d, out %q", code, out)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	code, _, _ := run(t, "no-such-command")
	if code == 0 {
		t.Fatal("an unknown command exited 0")
	}
}
