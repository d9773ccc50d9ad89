package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/tracker/internal/spool"
)

// spoolReporter writes the time of the oldest click or event this tracker
// holds — in its spool, or (clicks) in memory waiting for Kafka — to
// Postgres (tracker_spools) every SpoolReport: the sink keeps every
// watermark below it, so that no order is attributed while its click still
// waits in a spool after a Kafka outage, or in the producer's queue while
// Kafka is slow. Failures are logged (rarely) and retried; the tracker never
// waits on them.
type spoolReporter struct {
	pool    *pgxpool.Pool
	id      string
	sp      *spool.Spool
	pending func() time.Time // the producer's oldest click in memory; zero: none
	every   time.Duration
	log     *slog.Logger
	lastErr time.Time
}

func newSpoolReporter(ctx context.Context, cfg *config.Config, st Settings, sp *spool.Spool, pending func() time.Time, log *slog.Logger) (*spoolReporter, error) {
	id := st.TrackerID
	if id == "" {
		host, _ := os.Hostname()
		dir, err := filepath.Abs(cfg.SpoolDir)
		if err != nil {
			dir = cfg.SpoolDir
		}
		id = host + ":" + dir
	}
	pcfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.PostgresURL, err)
	}
	pcfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open postgres for spool reports: %w", err)
	}
	every := st.SpoolReport
	if every <= 0 {
		every = time.Second
	}
	return &spoolReporter{pool: pool, id: id, sp: sp, pending: pending, every: every, log: log}, nil
}

func (r *spoolReporter) run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	r.report(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.report(ctx)
		}
	}
}

// final reports once more (after the shutdown drain) and closes the pool.
func (r *spoolReporter) final() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.report(ctx)
	r.pool.Close()
}

func (r *spoolReporter) report(ctx context.Context) {
	var oldest *time.Time
	if at := oldestOf(r.sp.OldestAt(), r.pending()); !at.IsZero() {
		oldest = &at
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := r.pool.Exec(qctx, `INSERT INTO tracker_spools (tracker_id, oldest_at, updated_at) VALUES ($1, $2, now())
ON CONFLICT (tracker_id) DO UPDATE SET oldest_at = EXCLUDED.oldest_at, updated_at = now()`, r.id, oldest)
	if err != nil {
		if ctx.Err() == nil && time.Since(r.lastErr) > time.Minute {
			r.lastErr = time.Now()
			r.log.Warn("cannot report the spool to postgres (the sink's watermarks may pass spooled events)", "error", err)
		}
	}
}

// oldestOf returns the earlier of two times, a zero one meaning none.
func oldestOf(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
