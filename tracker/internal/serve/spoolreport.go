package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
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
// Kafka is slow. A report of nothing held (NULL) vouches only up to its own
// time (updated_at): while reports fail, the watermarks wait at the last
// one. Failures are logged (rarely) and retried; the tracker never waits on
// them. On a clean stop holding nothing, the tracker deletes its row (final).
type spoolReporter struct {
	pool    *pgxpool.Pool
	id      string
	sp      *spool.Spool
	pending func() time.Time // the producer's oldest click in memory; zero: none
	every   time.Duration
	log     *slog.Logger
	lastErr time.Time
	started time.Time
	// writeTimeout is the Kafka write timeout: a click in memory longer
	// than that is held back by Kafka (Unreported).
	writeTimeout time.Duration

	// The last report Postgres took: when (Unix nanoseconds; 0: none yet)
	// and whether it named something held (oldest_at set), for Unreported.
	okAt   atomic.Int64
	okHeld atomic.Bool
}

// Unreported is how long this tracker has held clicks or events that no
// report vouches for and that may outlive a report: records in its spool,
// or a click in memory older than the Kafka write timeout (Kafka slow or
// down) — a click on its way to a healthy Kafka reaches it in
// milliseconds and is never late, so with Postgres alone unreachable this
// stays 0. Counted from the last report Postgres took when that one said
// the tracker held nothing (or from the start when none was taken). The
// sink lets such a report hold its watermarks for at most
// -spool-report-stale; past that, what this tracker holds reaches
// ClickHouse behind the watermarks. 0 too when the last report named what
// it held (a row with oldest_at always holds).
func (r *spoolReporter) Unreported() time.Duration {
	if r.okHeld.Load() {
		return 0
	}
	pending := r.pending()
	stuck := !pending.IsZero() && time.Since(pending) > r.writeTimeout
	if r.sp.OldestAt().IsZero() && !stuck {
		return 0
	}
	since := r.started
	if at := r.okAt.Load(); at != 0 {
		since = time.Unix(0, at)
	}
	return time.Since(since)
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
	return &spoolReporter{pool: pool, id: id, sp: sp, pending: pending, every: every, log: log, started: time.Now(),
		writeTimeout: st.KafkaWriteTimeout}, nil
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

// final runs after the shutdown drain and closes the pool. A tracker that
// still holds clicks or events (Kafka down during the drain) reports them
// once more: its row keeps the sink's watermarks below them until the next
// process replays them. One that holds nothing deletes its row: a row never
// updated again would hold the watermarks at its last report for good (see
// the sink's oldestSpooled), and this tracker vouches for nothing any more.
// The row of a tracker that died stays; an operator deletes it.
func (r *spoolReporter) final() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer r.pool.Close()
	if !r.oldest().IsZero() {
		r.report(ctx)
		return
	}
	if _, err := r.pool.Exec(ctx, `DELETE FROM tracker_spools WHERE tracker_id = $1`, r.id); err != nil {
		r.log.Warn("cannot delete this tracker's row from postgres tracker_spools: it holds the sink's watermarks back at its last report until deleted",
			"tracker_id", r.id, "error", err)
	}
}

// oldest is the time of the oldest click or event this tracker holds, or
// zero when it holds none.
func (r *spoolReporter) oldest() time.Time {
	return oldestOf(r.sp.OldestAt(), r.pending())
}

// report writes what this tracker holds. updated_at is when it looked, by
// its own clock (the clock of its events' times) unless Postgres's is
// earlier: every click or event it takes afterwards is newer, so a report
// of NULL vouches up to that time (the sink holds the watermarks there while
// no later report comes), however long the write itself takes.
func (r *spoolReporter) report(ctx context.Context) {
	lookedAt := time.Now()
	var oldest *time.Time
	if at := r.oldest(); !at.IsZero() {
		oldest = &at
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := r.pool.Exec(qctx, `INSERT INTO tracker_spools (tracker_id, oldest_at, updated_at) VALUES ($1, $2, LEAST($3, now()))
ON CONFLICT (tracker_id) DO UPDATE SET oldest_at = EXCLUDED.oldest_at, updated_at = EXCLUDED.updated_at`, r.id, oldest, lookedAt)
	if err == nil {
		r.okHeld.Store(oldest != nil)
		r.okAt.Store(lookedAt.UnixNano())
	} else {
		if ctx.Err() == nil && time.Since(r.lastErr) > time.Minute {
			r.lastErr = time.Now()
			r.log.Warn("cannot report the spool to postgres (the sink's watermarks wait at this tracker's last report, for at most its -spool-report-stale)", "error", err)
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
