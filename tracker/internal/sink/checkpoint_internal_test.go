package sink

import (
	"testing"
	"time"
)

// reached returns the latest checkpoint the committed offset has reached,
// keeps it and the later ones, and thins a partition that stays behind.
func TestCheckpointsReached(t *testing.T) {
	s := &Sink{checkpoints: map[partKey][]checkpoint{}}
	k := partKey{"clicks", 0}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	if _, ok := s.reached(k, checkpoint{hwm: 10, at: at(0)}, 5); ok {
		t.Fatal("reached a mark above the committed offset")
	}
	s.reached(k, checkpoint{hwm: 20, at: at(1)}, 5)
	s.reached(k, checkpoint{hwm: 30, at: at(2)}, 5)
	got, ok := s.reached(k, checkpoint{hwm: 40, at: at(3)}, 25)
	if !ok || !got.Equal(at(1)) {
		t.Fatalf("committed 25: %v %v, want the checkpoint of mark 20", got, ok)
	}
	if n := len(s.checkpoints[k]); n != 3 {
		t.Fatalf("%d checkpoints kept, want 3 (marks 20, 30, 40)", n)
	}
	// Caught up: this refresh's own checkpoint.
	if got, ok := s.reached(k, checkpoint{hwm: 40, at: at(4)}, 40); !ok || !got.Equal(at(4)) || len(s.checkpoints[k]) != 1 {
		t.Fatalf("caught up: %v %v, %d kept", got, ok, len(s.checkpoints[k]))
	}
	// Behind for longer than maxCheckpoints refreshes: thinned, and still
	// sound — what it returns once reached was taken at or before the mark.
	for i := range 3 * maxCheckpoints {
		s.reached(k, checkpoint{hwm: int64(100 + i), at: at(100 + i)}, 41)
	}
	if n := len(s.checkpoints[k]); n > maxCheckpoints+1 {
		t.Fatalf("%d checkpoints kept, at most %d", n, maxCheckpoints+1)
	}
	got, ok = s.reached(k, checkpoint{hwm: 1_000_000, at: at(1_000_000)}, 2000)
	if !ok || got.After(at(2000)) || got.Before(at(40)) {
		t.Fatalf("committed 2000 after thinning: %v %v, want a time between marks 40 and 2000", got, ok)
	}
}
