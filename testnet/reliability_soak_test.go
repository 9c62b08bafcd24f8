//go:build soak

package testnet

import "testing"

// TestSoakReliability runs every reliability scenario at scale 4 (or
// OSPNODE_RELIABILITY_SCALE): four times the load phases and faults of
// the default run (12 leader kills, 4 partitions each of a follower and of
// the leader, 8 restarts, 4 wipes, 4 upstream outages' worth of forwarded
// calls). `make soak` runs it.
func TestSoakReliability(t *testing.T) {
	scale := reliabilityScale(t, 4)
	for _, s := range []struct {
		name string
		run  func(*testing.T, int)
	}{
		{"LeaderKilledRepeatedly", runLeaderKilled},
		{"FollowerPartitioned", runFollowerPartitioned},
		{"LeaderPartitioned", runLeaderPartitioned},
		{"NodeRestarted", runNodeRestarted},
		{"DiskWiped", runDiskWiped},
		{"UpstreamDownThenSlow", runUpstreamDownThenSlow},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, scale) })
	}
}
