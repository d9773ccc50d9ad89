package sink

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestDefaultGC: without GOGC the sink collects at GCPercent; with GOGC set
// (even to Go's own default) the environment decides.
func TestDefaultGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "100")
	DefaultGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC=100 set: GC percent %d, want 100", got)
	}
	os.Unsetenv("GOGC") // t.Setenv restores it
	DefaultGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("without GOGC: GC percent %d, want %d", got, GCPercent)
	}
}
