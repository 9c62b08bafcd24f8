//go:build !unix

package testnet

// processCPU is unknown off Unix: the summary then reports zero CPU.
func processCPU() cpuTimes { return cpuTimes{} }
