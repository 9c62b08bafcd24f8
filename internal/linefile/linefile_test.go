package linefile

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestForEach(t *testing.T) {
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		content string
		stopAt  int // fn fails on this line (0: never)
		want    []string
		wantErr error
	}{
		{"empty", "", 0, nil, nil},
		{"entries, blanks and comments", "a = 1\n\n  # note\n\t b:2  \r\n#x\nc", 0, []string{"1:a = 1", "4:b:2", "6:c"}, nil},
		{"no final newline", "x", 0, []string{"1:x"}, nil},
		{"hash inside an entry is kept", "k = v # not a comment\n", 0, []string{"1:k = v # not a comment"}, nil},
		{"fn error stops", "a\nb\nc\n", 2, []string{"1:a", "2:b"}, errStop},
		{"line too long", strings.Repeat("x", bufio.MaxScanTokenSize+1), 0, nil, bufio.ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var got []string
			err := ForEach(path, func(line int, text string) error {
				got = append(got, strconv.Itoa(line)+":"+text)
				if line == tc.stopAt {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if err := ForEach(filepath.Join(t.TempDir(), "missing"), func(int, string) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
