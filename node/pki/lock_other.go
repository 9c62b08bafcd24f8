//go:build !unix

package pki

// lockFile is a no-op where flock is unavailable: there, only one process
// may write a CA directory at a time (the in-process mutex still holds).
func lockFile(string) (func(), error) { return func() {}, nil }
