package jobs

import (
	"context"
	"testing"
	"time"
)

// A run whose lock connection fails but whose job returns nil (it did not
// look at ctx in time, or finished its last statement) was recorded and
// returned as a success: it is a failure, as another replica may have run
// the job meanwhile.
func TestLostLockButJobSucceeds(t *testing.T) {
	rs, pool := replicas(t, 1)
	r := rs[0]
	r.LockCheck = 100 * time.Millisecond
	started := make(chan struct{})
	job := Job{Name: "lost-ok", Run: func(ctx context.Context, now time.Time) (any, error) {
		close(started)
		time.Sleep(2 * time.Second) // works on without checking ctx
		return nil, nil
	}}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background(), job, false) }()
	<-started
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	var msg *string
	if err := pool.QueryRow(ctx, `SELECT error FROM settlement_runs WHERE job = 'lost-ok'`).Scan(&msg); err != nil {
		t.Fatal(err)
	}
	if err == nil || msg == nil {
		t.Errorf("lock lost during the run: Run = %v, recorded error %v; want the lost lock in both", err, msg)
	}
}
