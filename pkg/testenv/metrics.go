package testenv

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Metrics reads a Prometheus text endpoint (a binary's GET /metrics) and
// returns every sample by its full name, labels included
// (`tracker_clicks_produced_total`, `aff_sink_rows_total{table="clicks"}`).
// It fails t when the endpoint does not answer 200.
func Metrics(t testing.TB, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("metrics %s: %v", url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("metrics %s: %s %v", url, res.Status, err)
	}
	out := map[string]float64{}
	for _, l := range strings.Split(string(data), "\n") {
		name, val, ok := strings.Cut(l, " ")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(val, &v); err == nil {
			out[name] = v
		}
	}
	return out
}

// ProcessCPU is the user+system CPU time of this process so far: the
// difference over a benchmark's window is what the code under test cost,
// a figure that depends far less than a rate on what else the machine runs
// (services started as separate processes are not counted).
func ProcessCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
