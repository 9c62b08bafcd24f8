package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ospnode/ospnode"

// forbidden maps a package to the import paths (exact, or prefixes ending in
// "/") that must never appear among its transitive dependencies.
var forbidden = map[string][]string{
	"osp": {module + "/ledger", module + "/settlement", module + "/consensus",
		module + "/federation", module + "/node", module + "/testnet",
		"github.com/hashicorp/raft", "github.com/cockroachdb/apd/"},
	"ledger": {module + "/osp", module + "/settlement", module + "/consensus",
		module + "/federation", module + "/node", module + "/testnet",
		"github.com/hashicorp/raft", "net/http"},
	"consensus": {module + "/osp", module + "/ledger", module + "/settlement",
		module + "/federation", module + "/node", module + "/testnet"},
	"settlement": {module + "/osp", module + "/consensus", module + "/federation",
		module + "/node", module + "/testnet", "github.com/hashicorp/raft", "net/http"},
	// federation reads prices through ledger (decks, peers), never through
	// settlement: rating and policy are node's and settlement's.
	"federation": {module + "/consensus", module + "/settlement", module + "/node", module + "/testnet",
		"github.com/hashicorp/raft"},
	"node":    {module + "/testnet", module + "/cmd"},
	"testnet": {module + "/cmd"},
}

// deps returns, for every package of the module (tests excluded), its
// transitive dependencies as reported by `go list -deps`.
func deps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func matches(dep, rule string) bool {
	if strings.HasSuffix(rule, "/") {
		return strings.HasPrefix(dep, rule) || dep == strings.TrimSuffix(rule, "/")
	}
	return dep == rule || strings.HasPrefix(dep, rule+"/")
}

func TestImportRules(t *testing.T) {
	all := deps(t)
	for pkg, rules := range forbidden {
		prefix := module + "/" + pkg
		for path, ds := range all {
			if path != prefix && !strings.HasPrefix(path, prefix+"/") {
				continue
			}
			for _, d := range ds {
				for _, r := range rules {
					if matches(d, r) {
						t.Errorf("%s imports %s, which the architecture forbids", path, d)
					}
				}
			}
		}
	}
}

// TestOnlyCmdImportsTestnet: testnet is for tests and the CLI's testnet and
// bench commands, never for production packages.
func TestOnlyCmdImportsTestnet(t *testing.T) {
	for path, ds := range deps(t) {
		if strings.HasPrefix(path, module+"/testnet") || path == module+"/cmd" ||
			strings.HasPrefix(path, module+"/cmd/") {
			continue
		}
		for _, d := range ds {
			if matches(d, module+"/testnet") {
				t.Errorf("%s imports %s; only cmd and tests may", path, d)
			}
		}
	}
}
