package main

import (
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	out := "Running 10s test\n  Latency Distribution\n     50%  301.00us\n     99%    %s\n  749920 requests in 10.00s\nRequests/sec:  74958.81\n"
	for _, c := range []struct {
		p99  string
		want float64
	}{{"4.26ms", 4.26}, {"850.00us", 0.85}, {"1.20s", 1200}} {
		rps, text, p99, errs := parseWrk(replace(out, c.p99))
		if rps != 74958.81 || text != c.p99 || p99 != c.want || errs != "none" {
			t.Errorf("p99 %s: parseWrk = %v, %q, %v ms, %q; want 74958.81, %q, %v ms, none", c.p99, rps, text, p99, errs, c.p99, c.want)
		}
	}
	if _, _, _, errs := parseWrk(replace(out, "1ms") + "  Non-2xx or 3xx responses: 12\n"); errs != "Non-2xx or 3xx responses: 12" {
		t.Errorf("errors = %q", errs)
	}
}

func replace(s, p99 string) string { return strings.Replace(s, "%s", p99, 1) }

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{0.9, 0.6, 0.7}, 0.7}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
	xs := []float64{0.9, 0.6, 0.7}
	if median(xs); xs[0] != 0.9 || xs[1] != 0.6 || xs[2] != 0.7 {
		t.Errorf("median reordered its argument: %v", xs)
	}
	if got := percents([]float64{0.681, 0.8}); got != "68.1 %, 80.0 %" {
		t.Errorf("percents = %q", got)
	}
}
