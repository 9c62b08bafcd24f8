package cmd

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector target of `ospnode serve` and
// `ospnode bench`. Every OSP message allocates a short-lived XML tree
// (beevik/etree over encoding/xml) while the live heap stays small (tens of
// MB: the route index and caches), so at Go's default of 100 the collector
// runs constantly: on the 3-node benchmark it took ~15% of the CPU. At 400 a
// node trades a few hundred MB of peak heap for that CPU (BENCH.md).
const DefaultGCPercent = 400

// setGCPercent applies pct unless the operator set GOGC, which wins, or pct
// is 0 (Go's default).
func setGCPercent(pct int) {
	if pct == 0 || os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(pct)
}
