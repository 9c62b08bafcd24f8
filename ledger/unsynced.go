package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Unsynced mode (Options.Unsynced): the ledger file is a cache of the Raft
// log, which is the durable source. Commits are not fsynced, so after a
// power loss the file may be torn (bbolt orders its page writes with fsync;
// without it the meta page may name pages that never reached the disk). The
// file is therefore trusted only if it was closed cleanly:
//
//   - before the first write of an unsynced store, Open creates the marker
//     file <path>.unsynced and makes it durable (file and directory fsync);
//   - Close fsyncs the bbolt file, closes it, then removes the marker and
//     fsyncs the directory;
//   - any Open (unsynced or not) that finds the marker did not follow a
//     clean Close (a crash or a power loss, which cannot be told apart): it
//     moves the file aside to <path>.untrusted (replacing an older one) and
//     starts from an empty store (AppliedIndex 0). Consensus then restores
//     its latest snapshot into it and replays the log after it.
//
// A store opened with fsync never holds the marker, so a file written only
// with fsync (every file from before this mode) is always trusted.

// UnsyncedMarkerSuffix is appended to the store's path to name the marker
// that exists while an unsynced store may hold writes not yet fsynced.
const UnsyncedMarkerSuffix = ".unsynced"

// UntrustedSuffix is appended to the store's path to name the file an Open
// moved aside because the marker said it was not closed cleanly.
const UntrustedSuffix = ".untrusted"

func markerPath(path string) string { return path + UnsyncedMarkerSuffix }

// discardIfUnclean moves the store file aside when the marker of an unclean
// unsynced run exists, and reports the path it was moved to ("" if the file
// was trusted or absent). The marker itself is left for prepareUnsynced or
// clearMarker to handle.
func discardIfUnclean(path string) (string, error) {
	if _, err := os.Stat(markerPath(path)); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("ledger: marker: %w", err)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	aside := path + UntrustedSuffix
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("ledger: move untrusted file aside: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return aside, nil
}

// createMarker makes the marker durable before the first unsynced write.
func createMarker(path string) error {
	f, err := os.OpenFile(markerPath(path), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: create marker: %w", err)
	}
	_, werr := f.WriteString("ledger writes since the last fsync may be lost; not closed cleanly\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("ledger: create marker: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// clearMarker removes the marker (if any) and makes the removal durable.
func clearMarker(path string) error {
	if err := os.Remove(markerPath(path)); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("ledger: remove marker: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ledger: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ledger: sync dir: %w", err)
	}
	return nil
}
