//go:build race

package events

// raceEnabled: the race detector changes escape analysis and allocates, so
// allocation counts are asserted only without it.
const raceEnabled = true
