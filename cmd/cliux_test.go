package cmd

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIUsage: help is complete for every command level, a mistyped
// command or flag is a one-line usage error (exit 2) naming the nearest
// command, and flags may follow positional arguments.
func TestCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string // substrings of stdout, stderr
		notErr   string
	}{
		{args: []string{"help", "member"}, code: 0, out: "usage-now"},
		{args: []string{"help", "settle", "statement"}, code: 0, out: "--counterparty"},
		{args: []string{"help", "cdr"}, code: 0, out: "unfinished"},
		{args: []string{"--help"}, code: 0, out: "EXIT STATUS"},
		{args: []string{"member", "lsit"}, code: 2, err: `ospnode: member: unknown command "lsit"; did you mean "list"?`},
		{args: []string{"membr", "list"}, code: 2, err: `did you mean "member"`, notErr: "ospnode: ospnode"},
		{args: []string{"zzzzzz"}, code: 2, err: `ospnode: unknown command "zzzzzz"`, notErr: "ospnode: ospnode"},
		{args: []string{"member", "list", "--bogus"}, code: 2, err: "flag provided but not defined: -bogus (see 'ospnode member list --help')", notErr: "USAGE"},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) ||
			(tc.notErr != "" && strings.Contains(errOut+out, tc.notErr)) {
			t.Errorf("%v: exit %d, want %d\nstdout %s\nstderr %s", tc.args, code, tc.code, out, errOut)
		}
	}
}

func TestFlagsAfterPositionalArguments(t *testing.T) {
	file := filepath.Join("..", "osp", "testdata", "osptoolkit-4.33.1", "01-AuthorizationRequest.minimal.http")
	if _, err := os.Stat(file); err != nil {
		t.Skip(err)
	}
	_, before, _ := run(t, "osp", "decode", "--output", "json", file)
	code, after, errOut := run(t, "osp", "decode", file, "--output", "json")
	if code != 0 || after != before || !strings.HasPrefix(strings.TrimSpace(after), "{") {
		t.Fatalf("flag after the file: exit %d\n%s\n%s", code, after, errOut)
	}
	if args, err := prepareArgs(NewApp(nil, nil), []string{"ospnode", "osp", "decode", "f", "--", "--output"}); err != nil ||
		strings.Join(args, " ") != "ospnode osp decode f -- --output" {
		t.Fatalf("-- must end the flags: %v %v", args, err)
	}
}

// TestCAMemberKeyIsRSA: a member certificate gets an RSA key unless asked
// otherwise (the OSP Toolkit loads only RSA keys for its own certificate).
func TestCAMemberKeyIsRSA(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "ca", "init", "--dir", dir)
	out := filepath.Join(dir, "m")
	mustRun(t, "ca", "issue", "--dir", dir, "--kind", "member", "--name", "carrier-a", "--out", out)
	b, err := os.ReadFile(out + ".key")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	}
	if _, ok := k.(*rsa.PrivateKey); err != nil || !ok {
		t.Fatalf("member key %T (%v), want RSA", k, err)
	}
	if code, _, errOut := run(t, "ca", "issue", "--dir", dir, "--kind", "member", "--name", "m2", "--out", out+"2", "--key", "ecdsa"); code != 0 ||
		!strings.Contains(errOut, "loads only RSA keys") {
		t.Fatalf("an ECDSA member key: exit %d, no warning: %s", code, errOut)
	}
}

// TestMistakesSayWhatIsWrong: the OSP port given as --node, and an empty
// input to osp decode, are named as such.
func TestMistakesSayWhatIsWrong(t *testing.T) {
	n := openTestNode(t)
	ospBase := strings.TrimSuffix(n.OSPURL(), "/osp")
	if code, _, errb := run(t, "member", "list", "--node", ospBase, "--token", n.AdminToken()); code == 0 || !strings.Contains(errb, "is an OSP listener, not the admin API") {
		t.Fatalf("--node at the OSP port: exit %d %s", code, errb)
	}
	empty := writeTemp(t, "empty.xml", "")
	if code, _, errb := run(t, "osp", "decode", empty); code != 1 || !strings.Contains(errb, "the input is empty") {
		t.Fatalf("empty input: exit %d %s", code, errb)
	}
}
