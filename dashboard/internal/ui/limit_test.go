package ui

import (
	"testing"
	"time"
)

func TestWindowLimiter(t *testing.T) {
	l := newWindowLimiter(3, time.Minute)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if !l.allow("a", t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("event %d refused", i)
		}
	}
	if l.allow("a", t0.Add(10*time.Second)) {
		t.Fatal("4th event within the window allowed")
	}
	if !l.allow("b", t0.Add(10*time.Second)) {
		t.Fatal("another key refused")
	}
	// The first event leaves the window a minute after it happened.
	if !l.allow("a", t0.Add(time.Minute+time.Second/2)) {
		t.Fatal("event after the first left the window refused")
	}
	if l.allow("a", t0.Add(time.Minute+time.Second/2)) {
		t.Fatal("refused events must not count, but the window is full again")
	}
	// Keys idle for a whole window are dropped.
	l.allow("c", t0.Add(5*time.Minute))
	if _, ok := l.hits["b"]; ok || len(l.hits) != 1 {
		t.Fatalf("idle keys kept: %v", l.hits)
	}
}
