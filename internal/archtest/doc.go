// Package archtest holds only tests: they enforce the import rules of the
// architecture (design/ARCHITECTURE.md) with `go list -deps`, in the manner of
// Tailscale's deptest, and keep the file tables of the DESIGN.md files true
// to the directories they describe (`go test ./internal/archtest -update`
// rewrites them).
package archtest
