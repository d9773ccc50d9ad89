package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// replicas returns n runners on separate pools of one database, as n
// settler processes would be.
func replicas(t *testing.T, n int) ([]*Runner, *pgxpool.Pool) {
	t.Helper()
	url := testenv.Get(t).PostgresURL(t)
	var rs []*Runner
	var first *pgxpool.Pool
	for range n {
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		if first == nil {
			first = pool
		}
		rs = append(rs, NewRunner(pool, quiet))
	}
	return rs, first
}

// exclusiveJob fails the test when two runs overlap.
type exclusiveJob struct {
	running, maxRunning, runs atomic.Int64
}

func (e *exclusiveJob) job(name, spec string, took time.Duration) Job {
	return Job{Name: name, Spec: spec, Run: func(ctx context.Context, now time.Time) (any, error) {
		n := e.running.Add(1)
		defer e.running.Add(-1)
		for {
			m := e.maxRunning.Load()
			if n <= m || e.maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		e.runs.Add(1)
		time.Sleep(took)
		return map[string]int{"things": 3}, nil
	}}
}

func TestTwoReplicasNeverRunTheSameJobAtOnce(t *testing.T) {
	rs, pool := replicas(t, 2)
	var e exclusiveJob
	job := e.job("settle", "", 20*time.Millisecond)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rs[i%2].Run(context.Background(), job, true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if e.maxRunning.Load() != 1 || e.runs.Load() != 8 {
		t.Fatalf("max concurrent runs %d, runs %d; want 1 and 8", e.maxRunning.Load(), e.runs.Load())
	}
	var n int
	var counts string
	if err := pool.QueryRow(context.Background(), `SELECT count(*), min(counts::text) FROM settlement_runs
WHERE job = 'settle' AND finished_at IS NOT NULL AND error IS NULL`).Scan(&n, &counts); err != nil {
		t.Fatal(err)
	}
	if n != 8 || counts != `{"things": 3}` {
		t.Fatalf("recorded %d runs with counts %s", n, counts)
	}
}

func TestBusyLockSkipsWithoutWaiting(t *testing.T) {
	rs, _ := replicas(t, 2)
	started := make(chan struct{})
	release := make(chan struct{})
	slow := Job{Name: "approve", Run: func(ctx context.Context, now time.Time) (any, error) {
		close(started)
		<-release
		return nil, nil
	}}
	done := make(chan error)
	go func() { done <- rs[0].Run(context.Background(), slow, false) }()
	<-started
	err := rs[1].Run(context.Background(), Job{Name: "approve", Run: func(context.Context, time.Time) (any, error) {
		t.Error("ran while the other replica held the lock")
		return nil, nil
	}}, false)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second replica: %v, want ErrLocked", err)
	}
	// Another job is not blocked by it.
	if err := rs[1].Run(context.Background(), Job{Name: "release", Run: func(context.Context, time.Time) (any, error) { return nil, nil }}, false); err != nil {
		t.Fatalf("other job: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Once released, the lock is free again.
	if err := rs[1].Run(context.Background(), slowDone(), false); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func slowDone() Job {
	return Job{Name: "approve", Run: func(context.Context, time.Time) (any, error) { return nil, nil }}
}

func TestPanicAndErrorAreRecorded(t *testing.T) {
	rs, pool := replicas(t, 1)
	err := rs[0].Run(context.Background(), Job{Name: "boom", Run: func(context.Context, time.Time) (any, error) {
		panic("kaboom")
	}}, false)
	if err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("panic run: %v", err)
	}
	// The lock was released despite the panic.
	if err := rs[0].Run(context.Background(), Job{Name: "boom", Run: func(context.Context, time.Time) (any, error) {
		return nil, errors.New("postgres went away")
	}}, false); err == nil {
		t.Fatal("error run returned nil")
	}
	rows, err := pool.Query(context.Background(), `SELECT error FROM settlement_runs WHERE job = 'boom' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if len(got) != 2 || !strings.Contains(got[0], "panic: kaboom") || got[1] != "postgres went away" {
		t.Fatalf("recorded errors %q", got)
	}
}

func TestScheduledReplicasSkipOverlappingRuns(t *testing.T) {
	rs, pool := replicas(t, 2)
	var e exclusiveJob
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Each run takes longer than the interval: the same replica skips
	// (SkipIfStillRunning) and the other is refused by the lock.
	for _, r := range rs {
		c, err := Schedule(ctx, r, []Job{e.job("settle", "@every 200ms", 450*time.Millisecond)}, time.Minute, quiet)
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		defer c.Stop()
	}
	time.Sleep(2 * time.Second)
	if e.maxRunning.Load() != 1 || e.runs.Load() < 2 {
		t.Fatalf("max concurrent %d, runs %d", e.maxRunning.Load(), e.runs.Load())
	}
	var open int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM settlement_runs WHERE finished_at IS NULL`).Scan(&open)
	if open > 1 {
		t.Fatalf("%d runs open at once", open)
	}
	if _, err := Schedule(ctx, rs[0], []Job{{Name: "x", Spec: "every minute"}}, time.Minute, quiet); err == nil {
		t.Fatal("a bad schedule was accepted")
	}
}
