package cmd

import (
	"runtime"
	"testing"
)

func TestSetProcs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(base) })
	tests := []struct {
		name string
		env  string // GOMAXPROCS; "" unset
		n    int
		want int
	}{
		{"default: two per CPU", "", 0, DefaultProcsPerCPU * base},
		{"explicit", "", 3, 3},
		{"negative keeps Go's default", "", -1, base},
		{"environment wins", "1", 0, base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(base)
			t.Setenv("GOMAXPROCS", tc.env)
			setProcs(tc.n)
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("setProcs(%d) with GOMAXPROCS=%q: %d Ps, want %d", tc.n, tc.env, got, tc.want)
			}
		})
	}
}
