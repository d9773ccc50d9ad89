// Package settle is the settlement pass (DESIGN §5): customer bindings
// from identity events, attribution of orders, commissions per line, and
// their lifecycle in the ledger (accrual, voids for refunds before
// approval, clawbacks after, automatic approval, reserve release), plus the
// outbox relay that publishes commission facts and store-credit approvals.
//
// Every step works in bounded batches, each one Postgres transaction that
// holds the business rows and the ledger transfers together. Every ledger
// key is derived from the business facts (order, line, attribution version,
// cumulative amount), never from sequence ids or the clock, so a pass that is
// interrupted anywhere and run again writes exactly what a clean pass writes.
package settle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/attribution"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/money"
)

// DefaultBatchSize is the default Options.BatchSize. 1500 rather than 500:
// each batch reloads the program, partners and rates, asks ClickHouse once
// and writes one outbox row, and the 100k-order pass took 10-12 % less CPU
// and wall time (5 alternating runs against 500; 3000 was no better and
// doubled the settler's peak memory again, to ~350 MB).
const DefaultBatchSize = 1500

// Options configures a Settler. Zero fields take the documented defaults.
type Options struct {
	// ClickHouseDB is the database holding device_clicks.
	ClickHouseDB string
	// BatchSize bounds the orders or identities handled in one transaction;
	// default DefaultBatchSize.
	BatchSize int
	// MaxWait is how long after an order (or identity) was received it is
	// decided even though the sink watermark has not passed its time; the
	// decision is flagged watermark_forced. Default 1h.
	MaxWait time.Duration
	// MaxBatches bounds the batches of one step in one pass, so a pass
	// always ends; default 100000.
	MaxBatches int
	// MaxTxAttempts bounds the tries of one batch on serialization
	// failures, deadlocks and concurrent inserts; default 5.
	MaxTxAttempts int
	// Workers is how many order batches of one pass run at once, each in
	// its own transaction; default 3. Batches lock their orders (SKIP
	// LOCKED), so workers never take the same order; their ledger writes
	// serialize on the ledger's account locks, the rest of a batch (reads,
	// attribution lookups, commission and fact inserts) overlaps.
	Workers int
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Hour
	}
	if o.MaxBatches <= 0 {
		o.MaxBatches = 100_000
	}
	if o.MaxTxAttempts <= 0 {
		o.MaxTxAttempts = 5
	}
	if o.Workers <= 0 {
		o.Workers = 3
	}
}

// WatermarkTopic is the sink_watermarks row the settler waits for: clicks.
const WatermarkTopic = "clicks"

// Settler runs the settlement steps. It is safe for concurrent use, but the
// scheduler runs one pass at a time across replicas (advisory lock).
type Settler struct {
	pool   *pgxpool.Pool
	ch     driver.Conn
	ledger *ledger.Ledger
	opts   Options
	log    *slog.Logger
	// afterBind, when set (tests), runs between the binding and order steps.
	afterBind func()
}

// New returns a Settler.
func New(pool *pgxpool.Pool, ch driver.Conn, l *ledger.Ledger, opts Options, log *slog.Logger) *Settler {
	opts.defaults()
	return &Settler{pool: pool, ch: ch, ledger: l, opts: opts, log: log}
}

// Counts are what a step did; they are stored with each run.
type Counts struct {
	Identities int `json:"identities"`
	// IdentitiesForced: identities decided after MaxWait, the clicks
	// watermark short of them (bindings carry no flag of their own).
	IdentitiesForced int `json:"identities_forced"`
	Bindings         int `json:"bindings"`
	Orders           int `json:"orders"`
	Attributed       int `json:"attributed"`
	Reattributed     int `json:"reattributed"`
	Forced           int `json:"watermark_forced"`
	SelfReferrals    int `json:"self_referrals"`
	Commissions      int `json:"commissions"`
	Voids            int `json:"voids"`
	Clawbacks        int `json:"clawbacks"`
	Approved         int `json:"approved"`
	Released         int `json:"released"`
	Published        int `json:"published"`
}

func (c *Counts) add(o Counts) {
	c.Identities += o.Identities
	c.IdentitiesForced += o.IdentitiesForced
	c.Bindings += o.Bindings
	c.Orders += o.Orders
	c.Attributed += o.Attributed
	c.Reattributed += o.Reattributed
	c.Forced += o.Forced
	c.SelfReferrals += o.SelfReferrals
	c.Commissions += o.Commissions
	c.Voids += o.Voids
	c.Clawbacks += o.Clawbacks
	c.Approved += o.Approved
	c.Released += o.Released
	c.Published += o.Published
}

// Program is the program settings a pass works with.
type Program struct {
	DefaultRate        money.Rate
	AttributionWindow  time.Duration
	Model              attribution.Model
	BindingWindow      time.Duration
	ReserveBasisPoints int64
	ReservePeriod      time.Duration
	AutoApproveAfter   time.Duration
}

func loadProgram(ctx context.Context, q pgx.Tx) (Program, error) {
	var (
		p                     Program
		rateUpct, reserveUpct int64
		model                 string
		attrWin, bindWin, res time.Duration
	)
	err := q.QueryRow(ctx, `SELECT default_rate_upct, attribution_window, attribution_model, binding_window,
reserve_upct, reserve_period, auto_approve_after FROM program_settings`).
		Scan(&rateUpct, &attrWin, &model, &bindWin, &reserveUpct, &res, &p.AutoApproveAfter)
	if err != nil {
		return Program{}, fmt.Errorf("cannot read program settings: %w", err)
	}
	p.DefaultRate = checkedRate(rateUpct)
	p.AttributionWindow, p.BindingWindow, p.ReservePeriod = attrWin, bindWin, res
	p.Model = attribution.Model(model)
	// The ledger splits in basis points (0.01 % = 10000 micro-percent); a
	// reserve finer than that is rounded down to it.
	p.ReserveBasisPoints = int64(checkedRate(reserveUpct)) / 10_000
	return p, nil
}

// loadWatermark reads the sink watermark of clicks; zero when the sink has
// not recorded one yet.
func loadWatermark(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (time.Time, error) {
	var wm time.Time
	err := q.QueryRow(ctx, `SELECT watermark FROM sink_watermarks WHERE topic = $1`, WatermarkTopic).Scan(&wm)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read sink watermark: %w", err)
	}
	return wm, nil
}

// inTx runs fn in a transaction, retrying it a bounded number of times on
// transient conflicts. fn must not keep state between attempts.
func (s *Settler) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, fn)
		if err == nil || !ledger.IsRetryable(err) || attempt >= s.opts.MaxTxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*(1+rand.IntN(10))) * time.Millisecond):
		}
	}
}

// Settle runs one settlement pass as of now: customer bindings, then
// attribution and commission changes for every order that changed. Both
// steps work with the sink watermark read once at the start: were the order
// step to see a later one, it could decide an order whose customer's
// binding (an identity between the two watermarks, before the order) the
// binding step had not made yet, and rule 2 would be missed for good.
func (s *Settler) Settle(ctx context.Context, now time.Time) (Counts, error) {
	var total Counts
	wm, err := loadWatermark(ctx, s.pool)
	if err != nil {
		return total, err
	}
	for i := 0; ; i++ {
		if i >= s.opts.MaxBatches {
			return total, fmt.Errorf("binding step stopped after %d batches", i)
		}
		c, err := s.bindBatch(ctx, now, wm)
		total.add(c)
		if err != nil {
			return total, fmt.Errorf("cannot bind customers: %w", err)
		}
		if c.Identities < s.opts.BatchSize {
			break
		}
	}
	if s.afterBind != nil {
		s.afterBind()
	}
	c, err := s.settleOrders(ctx, now, wm)
	total.add(c)
	return total, err
}

// settleOrders runs the order step with opts.Workers workers, each walking
// the changed orders in keyset order from the start; a worker skips the
// orders another one holds and stops at its first short batch.
func (s *Settler) settleOrders(ctx context.Context, now, wm time.Time) (Counts, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		total    Counts
		firstErr error
		batches  atomic.Int64
		wg       sync.WaitGroup
		owners   ownersOnce
		panicked *WorkerPanic
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	for range s.opts.Workers {
		wg.Go(func() {
			// A panic here would end the process, out of reach of the job
			// runner's recover: it stops the other workers and is raised
			// again in the caller's goroutine once they are done.
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					if panicked == nil {
						panicked = &WorkerPanic{Value: p, stack: debug.Stack()}
					}
					mu.Unlock()
					cancel()
				}
			}()
			cur := cursor{}
			for {
				if n := batches.Add(1); n > int64(s.opts.MaxBatches) {
					fail(fmt.Errorf("order step stopped after %d batches", s.opts.MaxBatches))
					return
				}
				c, next, n, err := s.orderBatch(ctx, now, wm, cur, &owners)
				mu.Lock()
				total.add(c)
				mu.Unlock()
				if err != nil {
					fail(fmt.Errorf("cannot settle orders: %w", err))
					return
				}
				if n < s.opts.BatchSize {
					return
				}
				cur = next
			}
		})
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
	return total, firstErr
}

// WorkerPanic is a panic of an order-step worker raised again in the
// goroutine that started the workers; Stack is where the worker panicked.
type WorkerPanic struct {
	Value any
	stack []byte
}

func (p *WorkerPanic) String() string { return fmt.Sprint(p.Value) }

// Stack is the worker's stack when it panicked.
func (p *WorkerPanic) Stack() []byte { return p.stack }

// checkedRate converts a stored *_upct column (micro-percent, money.Rate's
// unit). The schema's CHECK constraints keep it within 0..100 %.
func checkedRate(upct int64) money.Rate {
	r := money.Rate(upct)
	if !r.Valid() {
		panic(fmt.Sprintf("BUG: stored rate %d micro-percent outside 0..100 %%", upct))
	}
	return r
}
