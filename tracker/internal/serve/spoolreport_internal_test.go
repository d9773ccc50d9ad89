package serve

import (
	"testing"
	"time"
)

// The report is the older of the spool's oldest record and the producer's
// oldest click in memory; zero means none.
func TestOldestOf(t *testing.T) {
	a := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b := a.Add(time.Minute)
	for _, c := range []struct{ x, y, want time.Time }{
		{time.Time{}, time.Time{}, time.Time{}},
		{a, time.Time{}, a},
		{time.Time{}, b, b},
		{a, b, a},
		{b, a, a},
	} {
		if got := oldestOf(c.x, c.y); !got.Equal(c.want) {
			t.Errorf("oldestOf(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}
