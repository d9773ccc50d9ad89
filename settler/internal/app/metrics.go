package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/settler/internal/ingest"
	"github.com/openaff/affiliate/settler/internal/jobs"
)

// serveMetrics are what `settler serve -metrics-addr` exposes on GET
// /metrics (Prometheus text): whether ingest keeps up (events by result,
// errors, the time of the last batch, the group's lag per topic), how the
// jobs fare (runs by outcome, the last success and duration per job) and
// what waits (orders queued for the pass, identities not yet bound, and
// the oldest of each), which the run records alone do not show: a pass
// that leaves every order waiting for the watermark records "orders: 0".
type serveMetrics struct {
	set           *metrics.Set
	ingestErrors  *metrics.Counter
	lastBatchUnix atomic.Int64
}

func newServeMetrics() *serveMetrics {
	m := &serveMetrics{set: metrics.NewSet()}
	m.ingestErrors = m.set.NewCounter(`aff_settler_ingest_errors_total`)
	m.set.NewGauge(`aff_settler_ingest_last_batch_timestamp_seconds`, func() float64 {
		return float64(m.lastBatchUnix.Load())
	})
	for _, r := range []string{"applied", "duplicate", "rejected", "ignored", "txn_marker"} {
		m.set.NewCounter(`aff_settler_ingest_messages_total{result="` + r + `"}`)
	}
	return m
}

// batch counts an ingested batch (ingest.Options.OnBatch).
func (m *serveMetrics) batch(c ingest.Counts) {
	for r, n := range map[string]int{"applied": c.Applied, "duplicate": c.Duplicates, "rejected": c.Rejected,
		"ignored": c.Ignored, "txn_marker": c.Markers} {
		m.set.GetOrCreateCounter(`aff_settler_ingest_messages_total{result="` + r + `"}`).Add(n)
	}
	m.lastBatchUnix.Store(time.Now().Unix())
}

// job records a run's outcome (jobs.Runner.Observe).
func (m *serveMetrics) job(job, outcome string, took time.Duration) {
	m.set.GetOrCreateCounter(`aff_settler_job_runs_total{settler_job="` + job + `",outcome="` + outcome + `"}`).Inc()
	switch outcome {
	case jobs.OutcomeOK:
		m.set.GetOrCreateGauge(`aff_settler_job_last_success_timestamp_seconds{settler_job="`+job+`"}`, nil).Set(float64(time.Now().Unix()))
		fallthrough
	case jobs.OutcomeFailed:
		m.set.GetOrCreateGauge(`aff_settler_job_last_duration_seconds{settler_job="`+job+`"}`, nil).Set(took.Seconds())
	}
}

// poll sets the lag and waiting gauges every interval until ctx ends.
func (m *serveMetrics) poll(ctx context.Context, d *deps, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	logged := time.Time{}
	for {
		if err := m.pollOnce(ctx, d); err != nil && ctx.Err() == nil && time.Since(logged) > 10*time.Minute {
			logged = time.Now()
			log.Warn("cannot read the settler's lag and queue for its metrics", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *serveMetrics) pollOnce(ctx context.Context, d *deps) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var errs []error
	if lag, err := d.consumer.Lag(ctx); err != nil {
		errs = append(errs, err)
	} else {
		for topic, n := range lag {
			m.set.GetOrCreateGauge(`aff_settler_ingest_lag_messages{topic="`+d.prefix+topic+`"}`, nil).Set(float64(n))
		}
	}
	q, err := waiting(ctx, d.pool)
	if err != nil {
		errs = append(errs, err)
	} else {
		m.set.GetOrCreateGauge(`aff_settler_queued_orders`, nil).Set(float64(q.orders))
		m.set.GetOrCreateGauge(`aff_settler_queued_orders_oldest_seconds`, nil).Set(q.ordersOldest.Seconds())
		m.set.GetOrCreateGauge(`aff_settler_waiting_identities`, nil).Set(float64(q.identities))
		m.set.GetOrCreateGauge(`aff_settler_waiting_identities_oldest_seconds`, nil).Set(q.identitiesOldest.Seconds())
	}
	return errors.Join(errs...)
}

// queue is what waits for a settlement pass.
type queue struct {
	orders, identities             int64
	ordersOldest, identitiesOldest time.Duration // since queued / received; 0 when none
}

// waiting reads the settle queue (orders placed or changed since the pass
// decided them, waiting for a pass or for the clicks watermark; the oldest
// by when it entered the queue, queued_at, not the order's first receipt)
// and the identities not yet evaluated for a binding.
func waiting(ctx context.Context, pool *pgxpool.Pool) (queue, error) {
	var q queue
	var os, is float64
	err := pool.QueryRow(ctx, `SELECT
	(SELECT count(*) FROM settle_queue),
	coalesce((SELECT extract(epoch FROM now() - min(queued_at)) FROM settle_queue), 0)::float8,
	(SELECT count(*) FROM identities WHERE processed_at IS NULL),
	coalesce((SELECT extract(epoch FROM now() - min(received_at)) FROM identities WHERE processed_at IS NULL), 0)::float8`).
		Scan(&q.orders, &os, &q.identities, &is)
	if err != nil {
		return queue{}, fmt.Errorf("cannot read the settle queue: %w", err)
	}
	q.ordersOldest = time.Duration(max(os, 0) * float64(time.Second))
	q.identitiesOldest = time.Duration(max(is, 0) * float64(time.Second))
	return q, nil
}

// serveHTTP serves GET /metrics on ln until ctx ends.
func (m *serveMetrics) serveHTTP(ctx context.Context, ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		m.set.WritePrometheus(w)
		metrics.WriteProcessMetrics(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server stopped", "error", err)
	}
}
