package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLostLockConnectionCancelsTheRun: the advisory lock lives on a
// connection that stays idle while the job works. When that connection
// drops (Postgres restart, idle_session_timeout, a NAT timing out) the
// lock is gone and another replica may start the same job; the run used to
// go on regardless and could not even record its end. It is cancelled now,
// and recorded as failed through another connection.
func TestLostLockConnectionCancelsTheRun(t *testing.T) {
	rs, pool := replicas(t, 1)
	r := rs[0]
	r.LockCheck = 100 * time.Millisecond
	started := make(chan struct{})
	job := Job{Name: "lost", Run: func(ctx context.Context, now time.Time) (any, error) {
		close(started)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(15 * time.Second): // not cancelled: end anyway, for the test's clean-up
			return nil, errors.New("not cancelled")
		}
	}}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background(), job, false) }()
	<-started
	ctx := context.Background()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND pid <> pg_backend_pid()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d lock holders (%v), want 1", n, err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "lost the job's lock") {
			t.Fatalf("Run = %v, want the lost lock", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on for 10 s without its lock")
	}
	var msg string
	if err := pool.QueryRow(ctx, `SELECT coalesce(error, '') FROM settlement_runs WHERE job = 'lost' AND finished_at IS NOT NULL`).Scan(&msg); err != nil {
		t.Fatalf("the run's end was not recorded: %v", err)
	}
	if !strings.Contains(msg, "lost the job's lock") {
		t.Errorf("recorded error %q, want the lost lock", msg)
	}
	// The job runs again normally.
	again := Job{Name: "lost", Run: func(ctx context.Context, now time.Time) (any, error) { return nil, nil }}
	if err := r.Run(ctx, again, false); err != nil {
		t.Fatalf("next run: %v", err)
	}
}
