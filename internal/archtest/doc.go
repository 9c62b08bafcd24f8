// Package archtest holds only a test: it enforces the import rules of the
// architecture (design/ARCHITECTURE.md) with `go list -deps`, in the manner of
// Tailscale's deptest.
package archtest
