package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCrash cancels contexts and kills Postgres connections while workers apply
// operations; each worker retries an interrupted step until it succeeds, as a restarted
// settlement pass would. Verify runs during the chaos (no partial transfer is ever
// visible) and after it, and the final balances equal the model's.
func TestCrash(t *testing.T) {
	l, pool := newLedger(t, 10)
	ctx := context.Background()
	const workers, steps = 3, 80

	// Each worker's plan is a sequence of steps (single ops or batches) that all succeed
	// when applied in order.
	plans := make([][][]Op, workers)
	models := make([]*model, workers)
	for w := range workers {
		g := &gen{rng: rand.New(rand.NewPCG(uint64(w), 7)), prefix: fmt.Sprintf("x%d", w), m: newModel()}
		for p := range 2 {
			g.partners = append(g.partners, fmt.Sprintf("x%d-p%d", w, p))
		}
		for len(plans[w]) < steps {
			n := 1
			if g.rng.IntN(5) == 0 {
				n = 2 + g.rng.IntN(40) // both sides of copyThreshold
			}
			var stepOps []Op
			for len(stepOps) < n {
				op := g.next()
				if g.m.apply(op) == nil {
					stepOps = append(stepOps, op)
				}
			}
			plans[w] = append(plans[w], stepOps)
		}
		models[w] = g.m
	}

	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaos sync.WaitGroup
	var kills, interrupted, verifies atomic.Int64
	chaos.Go(func() { // the killer
		conn, err := pgx.Connect(ctx, pool.Config().ConnString())
		if err != nil {
			t.Errorf("killer: %v", err)
			return
		}
		defer conn.Close(ctx)
		for chaosCtx.Err() == nil {
			var n int64
			_ = conn.QueryRow(ctx, `
				SELECT count(pg_terminate_backend(pid)) FROM (
					SELECT pid FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid()
					  AND state IN ('active', 'idle in transaction')
					ORDER BY random() LIMIT 1) s`).Scan(&n)
			kills.Add(n)
			time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		}
	})
	chaos.Go(func() { // a reader that must never see a partial transfer
		for chaosCtx.Err() == nil {
			r, err := l.Verify(ctx)
			if err != nil {
				continue // its connection was killed
			}
			verifies.Add(1)
			if !r.OK() {
				t.Errorf("Verify during chaos:\n%s", r)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for s, stepOps := range plans[w] {
				ok := false
				var lastErr error
				for attempt := 0; attempt < 200 && !ok; attempt++ {
					// Early attempts run against a random deadline; later ones get time to finish.
					timeout := time.Duration(1+rng.IntN(8)) * time.Millisecond
					if attempt > 5 {
						timeout = 5 * time.Second
					}
					stepCtx, cancel := context.WithTimeout(ctx, timeout)
					_, err := l.Batch(stepCtx, stepOps)
					cancel()
					if err == nil {
						ok = true
					} else {
						interrupted.Add(1)
						lastErr = err
					}
				}
				if !ok {
					errs[w] = fmt.Errorf("worker %d step %d never succeeded: %v", w, s, lastErr)
					return
				}
			}
		})
	}
	wg.Wait()
	stopChaos()
	chaos.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d connections killed, %d interrupted attempts, %d verifies during chaos", kills.Load(), interrupted.Load(), verifies.Load())
	if interrupted.Load() == 0 || kills.Load() == 0 {
		t.Fatalf("the chaos did not interrupt anything (kills %d, interrupted %d)", kills.Load(), interrupted.Load())
	}
	mustVerify(t, l)
	for _, m := range models {
		for k, want := range m.bal {
			mustBalance(t, l, k[0], want)
		}
	}
}
