// Package linefile reads the small line-oriented text files operators
// write by hand (`ospnode serve --config` settings, enrollment
// credentials): one entry a line, blank lines and lines starting with #
// skipped, surrounding space trimmed. Parsing an entry is the caller's.
package linefile

import (
	"bufio"
	"os"
	"strings"
)

// ForEach calls fn with the 1-based line number and the trimmed text of
// every line of the file at path that is neither blank nor a # comment,
// in order. It returns the open or read error (a line over 64 KiB is
// bufio.ErrTooLong), or the first error fn returns, which stops the read.
// Safe for concurrent use (it holds no state).
func ForEach(path string, fn func(line int, text string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if err := fn(line, t); err != nil {
			return err
		}
	}
	return sc.Err()
}
