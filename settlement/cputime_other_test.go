//go:build !unix

package settlement

import "time"

func cpuTime() time.Duration { return 0 }
