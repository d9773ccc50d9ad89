package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// runLosingLock runs job on a runner checking its lock every 100 ms, drops
// the lock's connection (pg_terminate_backend) once the job has started,
// and returns Run's error within 10 s.
func runLosingLock(t *testing.T, name string, work func(ctx context.Context) error) (*pgxpool.Pool, error) {
	t.Helper()
	rs, pool := replicas(t, 1)
	r := rs[0]
	r.LockCheck = 100 * time.Millisecond
	started := make(chan struct{})
	job := Job{Name: name, Run: func(ctx context.Context, now time.Time) (any, error) {
		close(started)
		return nil, work(ctx)
	}}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background(), job, false) }()
	<-started
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND pid <> pg_backend_pid()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d lock holders (%v), want 1", n, err)
	}
	select {
	case err := <-errc:
		return pool, err
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on for 10 s without its lock")
		return nil, nil
	}
}

// recordedError is the error recorded for the run of job name ("" for none).
func recordedError(t *testing.T, pool *pgxpool.Pool, name string) string {
	t.Helper()
	var msg string
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(error, '') FROM settlement_runs WHERE job = $1 AND finished_at IS NOT NULL`, name).Scan(&msg); err != nil {
		t.Fatalf("the run's end was not recorded: %v", err)
	}
	return msg
}

// TestLostLockConnectionCancelsTheRun: the advisory lock lives on a
// connection that stays idle while the job works. When that connection
// drops (Postgres restart, idle_session_timeout, a NAT timing out) the
// lock is gone and another replica may start the same job; the run used to
// go on regardless and could not even record its end. It is cancelled now,
// and recorded as failed through another connection.
func TestLostLockConnectionCancelsTheRun(t *testing.T) {
	pool, err := runLosingLock(t, "lost", func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(15 * time.Second): // not cancelled: end anyway, for the test's clean-up
			return errors.New("not cancelled")
		}
	})
	if err == nil || !strings.Contains(err.Error(), "lost the job's lock") {
		t.Fatalf("Run = %v, want the lost lock", err)
	}
	if msg := recordedError(t, pool, "lost"); !strings.Contains(msg, "lost the job's lock") {
		t.Errorf("recorded error %q, want the lost lock", msg)
	}
	// The job runs again normally.
	again := Job{Name: "lost", Run: func(ctx context.Context, now time.Time) (any, error) { return nil, nil }}
	if err := NewRunner(pool, quiet).Run(context.Background(), again, false); err != nil {
		t.Fatalf("next run: %v", err)
	}
}

// TestLostLockButJobSucceeds: a run whose lock connection fails but whose
// job returns nil (it did not look at ctx in time, or finished its last
// statement) was recorded and returned as a success: it is a failure, as
// another replica may have run the job meanwhile.
func TestLostLockButJobSucceeds(t *testing.T) {
	pool, err := runLosingLock(t, "lost-ok", func(ctx context.Context) error {
		time.Sleep(2 * time.Second) // works on without checking ctx
		return nil
	})
	if msg := recordedError(t, pool, "lost-ok"); err == nil || msg == "" {
		t.Errorf("lock lost during the run: Run = %v, recorded error %q; want the lost lock in both", err, msg)
	}
}
