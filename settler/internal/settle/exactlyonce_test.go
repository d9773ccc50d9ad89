package settle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/settler/internal/chtest"
)

// dump renders everything a pass writes, without sequence ids or wall-clock
// times, so two databases that went through the same passes compare equal.
func dump(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT idempotency_key, operation, partner_id, currency, reference, amount_minor, final FROM ledger_transfers ORDER BY idempotency_key`,
		`SELECT owner, kind, currency, debits_pending, credits_pending, debits_posted, credits_posted FROM ledger_accounts ORDER BY owner, kind, currency`,
		`SELECT commission_id, approved_minor, reserve_minor, held_minor, clawed_minor, release_at FROM ledger_reserves ORDER BY commission_id`,
		`SELECT order_id, line_id, attribution_version, partner_id, amount_minor, state, voided_amount_minor, clawed_back_amount_minor, ledger_ref, approved_at FROM commissions ORDER BY 1, 2, 3`,
		`SELECT order_id, version, partner_id, rule, candidates::text, watermark_forced, self_referral, superseded_at IS NULL FROM attributions ORDER BY 1, 2`,
		`SELECT order_id, revision, (SELECT q.revision FROM settle_queue q WHERE q.order_id = o.order_id) FROM orders o ORDER BY 1`,
		`SELECT customer_id, partner_id, bound_at FROM customer_bindings ORDER BY 1, 3`,
		`SELECT event_id, payload::text FROM outbox_messages ORDER BY event_id`,
	} {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		b.WriteString("--\n")
	}
	return b.String()
}

// exactlyOnceScenario feeds both fixtures the same events in two phases;
// pass runs one full settlement pass as of now on one fixture.
func exactlyOnceScenario(t *testing.T, fs []*fixture, pass func(f *fixture, now time.Time)) {
	rng := rand.New(rand.NewPCG(1, 2))
	var partners []int64
	for _, f := range fs {
		f.moneyProgram()
		partners = nil
		for i := range 3 {
			partners = append(partners, f.partner(fmt.Sprintf("p%d", i)))
		}
	}
	// Clicks live in the shared ClickHouse database: insert them once.
	for i := range 30 {
		fs[0].click(fmt.Sprintf("dev%d", i), partners[i%3], T0.Add(-time.Hour))
	}
	var phase1, phase2 []string
	for i := range 30 {
		o := fmt.Sprintf("o%02d", i)
		at := T0.Add(time.Duration(i) * time.Minute)
		phase1 = append(phase1, placed("e"+o, o, fmt.Sprintf("c%d", i), fmt.Sprintf("dev%d", i), at,
			line("l1", "x", 1+rng.IntN(4), "19.99"), line("l2", "y", 1, "5.55")))
		switch i % 5 {
		case 0: // refunded before approval
			phase1 = append(phase1, refund("r"+o, o, at.Add(time.Hour), line("l1", "x", 1, "19.99")))
		case 1: // cancelled
			phase1 = append(phase1, orderEvent("x"+o, "order.cancelled", o, at.Add(time.Hour)))
		case 2, 3: // delivered, approved, then refunded after approval
			phase1 = append(phase1, orderEvent("d"+o, "order.delivered", o, at.Add(time.Hour)))
			phase2 = append(phase2, refund("r"+o, o, at.Add(72*time.Hour), line("l2", "y", 1, "5.55")))
		}
	}
	for _, f := range fs {
		f.events(phase1...)
		f.watermark(T0.Add(2 * time.Hour))
	}
	for _, f := range fs {
		pass(f, T0.Add(48*time.Hour))
		f.events(phase2...)
		f.override("o04", &partners[0])
		pass(f, T0.Add(80*time.Hour))
		pass(f, T0.Add(48*time.Hour+31*24*time.Hour))
	}
}

func (s *Settler) fullPass(ctx context.Context, now time.Time) error {
	if _, err := s.Settle(ctx, now); err != nil {
		return err
	}
	if _, err := s.AutoApprove(ctx, now); err != nil {
		return err
	}
	if _, err := s.ReleaseReserves(ctx, now); err != nil {
		return err
	}
	return nil
}

func TestInterruptedPassesLeaveTheSameLedger(t *testing.T) {
	env := testenv.Get(t)
	chDB := chtest.DB(t)
	var fs []*fixture
	for range 2 {
		pool, err := pgxpool.New(context.Background(), env.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		fs = append(fs, newFixtureOn(t, pool, chDB))
	}
	clean, cut := fs[0], fs[1]
	var cleanTook []time.Duration // per pass
	passNo := 0
	rng := rand.New(rand.NewPCG(3, 4))
	interrupted, waited := 0, 0
	exactlyOnceScenario(t, fs, func(f *fixture, now time.Time) {
		if f == clean {
			start := time.Now()
			if err := f.s.fullPass(context.Background(), now); err != nil {
				t.Fatal(err)
			}
			cleanTook = append(cleanTook, time.Since(start))
			return
		}
		// Cut the pass at growing, jittered points until one run completes:
		// each cut lands somewhere else in the pass (between or inside
		// batches, in Postgres, ClickHouse or ledger calls).
		took := cleanTook[passNo]
		passNo++
		for attempt := 0; ; attempt++ {
			if attempt > 200 {
				t.Fatal("no pass completed in 200 attempts")
			}
			limit := took * time.Duration(attempt+1) / 20
			ctx, cancel := context.WithTimeout(context.Background(), limit/2+time.Duration(rng.Int64N(int64(limit/2)+1)))
			err := f.s.fullPass(ctx, now)
			cancel()
			if err == nil {
				return
			}
			interrupted++
			if waitNoTransactions(t, f.pool) {
				waited++
			}
		}
	})
	if interrupted < 5 {
		t.Fatalf("only %d passes were interrupted; the test proves little", interrupted)
	}
	t.Logf("%d interrupted passes (%d times a cut transaction was still open on the server)", interrupted, waited)
	if a, b := dump(t, clean.pool), dump(t, cut.pool); a != b {
		t.Fatalf("interrupted passes left another state:\nclean:\n%s\ninterrupted:\n%s", a, b)
	}
	if n := queryOne[int](t, clean.pool, `SELECT count(*) FROM ledger_transfers WHERE operation = 'clawback'`); n == 0 {
		t.Fatal("the scenario wrote no clawback")
	}
	clean.verify()
	cut.verify()
	// A repeat of the last pass on either changes nothing.
	before := dump(t, cut.pool)
	if err := cut.s.fullPass(context.Background(), T0.Add(48*time.Hour+31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, cut.pool); after != before {
		t.Fatal("a repeated pass changed the state")
	}
}

// waitNoTransactions waits until no other session of pool's database is
// inside a transaction, and reports whether it had to wait. A cut pass's
// transaction ends on the server a moment after its context does; an attempt
// started before that skips the rows it still locks (SKIP LOCKED, as a second
// replica would) and leaves them to the next pass. Nothing is lost or counted
// twice, but the commission facts then carry that later pass's time, and the
// dump would differ from the clean run's for that reason alone (it failed a
// CI run so: three clawback facts one pass late).
func waitNoTransactions(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for waited := false; ; waited = true {
		var open int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			return waited
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still in a transaction 30 s after a cut pass", open)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
