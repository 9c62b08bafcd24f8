package testnet

import "time"

// cpuTimes is a process's CPU usage (getrusage's ru_utime and ru_stime).
type cpuTimes struct{ user, sys time.Duration }

func (a cpuTimes) sub(b cpuTimes) cpuTimes { return cpuTimes{a.user - b.user, a.sys - b.sys} }
