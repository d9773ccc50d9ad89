package serve

import (
	"testing"
	"time"

	"github.com/openaff/affiliate/tracker/internal/spool"
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

// Unreported counts only what may outlive a report: with Postgres
// unreachable for 10 minutes but Kafka healthy, the click being delivered
// right now (2 ms old) is not at risk, and Unreported stays 0 (it said
// 10 minutes, and -unhealthy-unreported would have pulled a busy tracker
// out of the load balancer for a Postgres outage alone). A click held past
// the Kafka write timeout, or a spooled record, counts from the last
// report; a report that named what was held counts nothing.
func TestUnreportedOnlyWhatMayOutliveAReport(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), 1<<20, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	pendingAt := time.Now().Add(-2 * time.Millisecond)
	r := &spoolReporter{sp: sp, started: time.Now().Add(-time.Hour), writeTimeout: 3 * time.Second,
		pending: func() time.Time { return pendingAt }}
	r.okAt.Store(time.Now().Add(-10 * time.Minute).UnixNano()) // the last report: nothing held
	if u := r.Unreported(); u != 0 {
		t.Errorf("Unreported = %v with only a 2 ms old click on its way to Kafka, want 0", u)
	}
	pendingAt = time.Now().Add(-5 * time.Second) // held past the write timeout
	if u := r.Unreported(); u < 10*time.Minute || u > 11*time.Minute {
		t.Errorf("Unreported = %v with a click held past the write timeout, want about 10m", u)
	}
	pendingAt = time.Time{}
	if err := sp.Append(spool.Record{Topic: "clicks", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if u := r.Unreported(); u < 10*time.Minute {
		t.Errorf("Unreported = %v with a spooled record, want about 10m", u)
	}
	r.okHeld.Store(true)
	if u := r.Unreported(); u != 0 {
		t.Errorf("Unreported = %v after a report naming what is held, want 0", u)
	}
}
