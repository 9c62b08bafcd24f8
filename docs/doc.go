// Package docs holds no code: its tests execute the operator documentation
// (operations.md's runbook blocks against the built ospnode binary) and
// check the monitoring artefacts (docs/monitoring, deploy/) against what a
// running node exposes, so that the documents cannot drift from the binary.
package docs
