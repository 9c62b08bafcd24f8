//go:build unix

package settlement

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used, all
// threads: records per CPU-second is a per-core figure that a busy
// machine does not distort the way wall-clock time is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
