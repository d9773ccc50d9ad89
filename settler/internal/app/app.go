// Package app wires the settler's commands (DESIGN §4.4): RunOnce ingests
// every order and identity event already in Kafka, performs one full
// settlement pass and returns; Serve ingests continuously and settles on
// cron schedules until its context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/settler/internal/ingest"
	"github.com/openaff/affiliate/settler/internal/jobs"
	"github.com/openaff/affiliate/settler/internal/settle"
)

// Environment variables of the settler's own settings (beyond DESIGN §4.1).
const (
	EnvSettleSchedule  = "AFF_SETTLER_SETTLE_SCHEDULE"
	EnvApproveSchedule = "AFF_SETTLER_APPROVE_SCHEDULE"
	EnvReleaseSchedule = "AFF_SETTLER_RELEASE_SCHEDULE"
	EnvRelaySchedule   = "AFF_SETTLER_RELAY_SCHEDULE"
	EnvMaxWait         = "AFF_SETTLER_MAX_WAIT"
	EnvBatchSize       = "AFF_SETTLER_BATCH_SIZE"
	EnvIngestBatchSize = "AFF_SETTLER_INGEST_BATCH_SIZE"
	EnvRelayBatchSize  = "AFF_SETTLER_RELAY_BATCH_SIZE"
	EnvDrainTimeout    = "AFF_SETTLER_DRAIN_TIMEOUT"
	EnvGroupID         = "AFF_SETTLER_GROUP_ID"
	EnvShutdownGrace   = "AFF_SETTLER_SHUTDOWN_GRACE"
)

// Options are the settler's own settings.
type Options struct {
	// Cron schedules (robfig/cron syntax, UTC) of the four jobs.
	SettleSchedule, ApproveSchedule, ReleaseSchedule, RelaySchedule string
	// MaxWait: an order or identity waits at most this long (since it was
	// received) for the sink watermark before it is decided anyway, flagged.
	MaxWait time.Duration
	// BatchSize bounds the orders, identities or commissions of one settlement transaction.
	BatchSize int
	// IngestBatchSize bounds the Kafka messages of one ingest transaction.
	IngestBatchSize int
	// RelayBatchSize is how many messages one relay transaction publishes
	// (more when an outbox row of a settlement batch carries them: a row
	// goes whole, so 1 publishes one row per transaction).
	RelayBatchSize int
	// DrainTimeout bounds how long RunOnce may take to reach the high-water marks.
	DrainTimeout time.Duration
	// GroupID is the Kafka consumer group.
	GroupID string
	// ShutdownGrace bounds how long serve lets running jobs go on after
	// SIGINT/SIGTERM before it cancels them (a cancelled run is recorded
	// as failed; the next pass redoes its work).
	ShutdownGrace time.Duration
	// MetricsAddr is where serve answers GET /metrics ("": nowhere); its
	// -metrics-addr flag.
	MetricsAddr string

	onBatch func(ingest.Counts) // the metrics' hook, set by ServeWith
}

// metricsPoll is how often serve reads the lag and the queue for its
// metrics (a count of the settle queue and of the waiting identities).
const metricsPoll = 15 * time.Second

// DefaultOptions are the documented defaults: settle every minute,
// auto-approve and release reserves hourly, relay the outbox every 5 s.
func DefaultOptions() Options {
	return Options{
		SettleSchedule:  "* * * * *",
		ApproveSchedule: "0 * * * *",
		ReleaseSchedule: "0 * * * *",
		RelaySchedule:   "@every 5s",
		MaxWait:         time.Hour,
		BatchSize:       settle.DefaultBatchSize,
		IngestBatchSize: 1000,
		RelayBatchSize:  1000,
		DrainTimeout:    10 * time.Minute,
		GroupID:         "settler",
		// Under the 120 s terminationGracePeriodSeconds of the settler's
		// Kubernetes deployment, leaving time to close the clients.
		ShutdownGrace: 90 * time.Second,
	}
}

// OptionsFromEnv reads Options from the AFF_SETTLER_* variables over the
// defaults; a malformed value is an error naming its variable.
func OptionsFromEnv(lookup func(string) (string, bool)) (Options, error) {
	o := DefaultOptions()
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v, ok := lookup(name); ok && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 90s or 1h", name, v))
				return
			}
			*dst = d
		}
	}
	num := func(name string, dst *int, max int) {
		if v, ok := lookup(name); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > max {
				errs = append(errs, fmt.Errorf("%s: %q is not a number from 1 to %d", name, v, max))
				return
			}
			*dst = n
		}
	}
	schedule := func(name string, dst *string) {
		str(name, dst)
		if _, err := cron.ParseStandard(*dst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a cron schedule such as \"* * * * *\" or \"@every 30s\": %v", name, *dst, err))
		}
	}
	schedule(EnvSettleSchedule, &o.SettleSchedule)
	schedule(EnvApproveSchedule, &o.ApproveSchedule)
	schedule(EnvReleaseSchedule, &o.ReleaseSchedule)
	schedule(EnvRelaySchedule, &o.RelaySchedule)
	str(EnvGroupID, &o.GroupID)
	dur(EnvMaxWait, &o.MaxWait)
	dur(EnvDrainTimeout, &o.DrainTimeout)
	dur(EnvShutdownGrace, &o.ShutdownGrace)
	num(EnvBatchSize, &o.BatchSize, 10_000)
	// Each ingest transaction holds an advisory lock per order of its batch
	// (ingest's lockOrders), and Postgres' lock table holds
	// max_locks_per_transaction x max_connections (6400 by default) for the
	// whole server: a few consumers at 2000 fit.
	num(EnvIngestBatchSize, &o.IngestBatchSize, 2000)
	num(EnvRelayBatchSize, &o.RelayBatchSize, 100_000)
	return o, errors.Join(errs...)
}

// RunOnce is `settler run` with options from the environment.
func RunOnce(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	opts, err := OptionsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	return RunOnceWith(ctx, cfg, opts, log)
}

// Serve is `settler serve` with options from the environment.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	opts, err := OptionsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	return ServeWith(ctx, cfg, opts, log)
}

// deps are the settler's connections and parts.
type deps struct {
	pool     *pgxpool.Pool
	lockPool *pgxpool.Pool
	ch       driver.Conn
	settler  *settle.Settler
	consumer *ingest.Consumer
	outbox   *kafka.Writer
	runner   *jobs.Runner
	prefix   string
}

func open(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) (*deps, error) {
	var topics []string
	for _, t := range []string{"orders", "identities", "dlq", "commissions", "store_credits"} {
		topics = append(topics, cfg.Topic(t))
	}
	if err := kafkatopic.Ensure(ctx, cfg.KafkaBrokers, topics); err != nil {
		return nil, err
	}
	pool, err := newPool(ctx, cfg.PostgresURL, 16)
	if err != nil {
		return nil, err
	}
	// Job locks live on their own connections, one per running job, so a
	// job holding its lock can never starve the work it does of connections.
	lockPool, err := newPool(ctx, cfg.PostgresURL, int32(jobCount+1))
	if err != nil {
		pool.Close()
		return nil, err
	}
	ch, err := migrate.Open(ctx, cfg.ClickHouseAddr, cfg.ClickHouseDB)
	if err != nil {
		pool.Close()
		lockPool.Close()
		return nil, err
	}
	l := ledger.New(pool, ledger.Options{})
	d := &deps{
		pool: pool, lockPool: lockPool, ch: ch, prefix: cfg.KafkaTopicPrefix,
		settler: settle.New(pool, ch, l, settle.Options{ClickHouseDB: cfg.ClickHouseDB, BatchSize: opts.BatchSize, MaxWait: opts.MaxWait}, log),
		consumer: ingest.NewConsumer(pool, ingest.EventsDecoder(), ingest.Options{
			Brokers: cfg.KafkaBrokers, TopicPrefix: cfg.KafkaTopicPrefix, GroupID: opts.GroupID, BatchSize: opts.IngestBatchSize,
			OnBatch: opts.onBatch,
		}, log),
		outbox: settle.NewOutboxWriter(cfg.KafkaBrokers),
		runner: jobs.NewRunner(lockPool, log),
	}
	return d, nil
}

func (d *deps) close() {
	d.consumer.Close()
	d.outbox.Close()
	d.ch.Close()
	d.pool.Close()
	d.lockPool.Close()
}

func newPool(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("cannot parse postgres url: %w", err)
	}
	pc.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("cannot open postgres: %w", err)
	}
	return pool, nil
}

// jobCount is the number of jobs deps.jobs returns.
const jobCount = 4

// jobs returns the settler's jobs in the order one full pass runs them.
func (d *deps) jobs(opts Options) []jobs.Job {
	return []jobs.Job{
		{Name: "settle", Spec: opts.SettleSchedule, Run: func(ctx context.Context, now time.Time) (any, error) {
			return d.settler.Settle(ctx, now)
		}},
		{Name: "auto_approve", Spec: opts.ApproveSchedule, Run: func(ctx context.Context, now time.Time) (any, error) {
			return d.settler.AutoApprove(ctx, now)
		}},
		{Name: "release_reserves", Spec: opts.ReleaseSchedule, Run: func(ctx context.Context, now time.Time) (any, error) {
			return d.settler.ReleaseReserves(ctx, now)
		}},
		{Name: "relay_outbox", Spec: opts.RelaySchedule, Run: func(ctx context.Context, now time.Time) (any, error) {
			total := 0
			for range 10_000 {
				n, err := d.settler.Relay(ctx, d.outbox, d.prefix, opts.RelayBatchSize)
				total += n
				if err != nil || n < opts.RelayBatchSize {
					return map[string]int{"published": total}, err
				}
			}
			return map[string]int{"published": total}, nil
		}},
	}
}

// RunOnceWith ingests everything in the topics up to their current
// high-water marks, then runs every job once (waiting for a job's lock if a
// serving replica holds it) and returns the first error.
func RunOnceWith(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) error {
	d, err := open(ctx, cfg, opts, log)
	if err != nil {
		return err
	}
	defer d.close()
	start := time.Now()
	if err := d.consumer.Drain(ctx, opts.DrainTimeout); err != nil {
		return fmt.Errorf("cannot ingest: %w", err)
	}
	t := d.consumer.Totals()
	log.Info("ingested", "applied", t.Applied, "duplicates", t.Duplicates, "rejected", t.Rejected, "ignored", t.Ignored,
		"transaction_markers", t.Markers,
		"duration", time.Since(start))
	for _, j := range d.jobs(opts) {
		if err := d.runner.Run(ctx, j, true); err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
	}
	return nil
}

// ServeWith ingests continuously and runs the jobs on their schedules until
// ctx ends; then it starts no new run, lets running jobs finish (cancelling
// them after opts.ShutdownGrace) and returns nil.
func ServeWith(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) error {
	var (
		m  *serveMetrics
		ln net.Listener
	)
	if opts.MetricsAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", opts.MetricsAddr); err != nil {
			return fmt.Errorf("cannot listen on -metrics-addr %s: %w", opts.MetricsAddr, err)
		}
		defer ln.Close()
		m = newServeMetrics()
		opts.onBatch = m.batch
	}
	d, err := open(ctx, cfg, opts, log)
	if err != nil {
		return err
	}
	defer d.close()
	var wg sync.WaitGroup
	var onIngestError func()
	if m != nil {
		d.runner.Observe = m.job
		onIngestError = m.ingestErrors.Inc
		// The metrics outlive the jobs' shutdown grace, to the end.
		mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		var mwg sync.WaitGroup
		defer func() { stop(); mwg.Wait() }()
		mwg.Go(func() { m.serveHTTP(mctx, ln, log) })
		mwg.Go(func() { m.poll(mctx, d, metricsPoll, log) })
		log.Info("settler metrics", "addr", ln.Addr().String())
	}
	c, err := jobs.Schedule(ctx, d.runner, d.jobs(opts), opts.ShutdownGrace, log)
	if err != nil {
		return err
	}
	wg.Go(func() { consume(ctx, d.consumer, onIngestError, log) })
	c.Start()
	log.Info("settler serving", "settle", opts.SettleSchedule, "approve", opts.ApproveSchedule,
		"release", opts.ReleaseSchedule, "relay", opts.RelaySchedule)
	<-ctx.Done()
	log.Info("settler stopping: waiting for running jobs", "grace", opts.ShutdownGrace)
	<-c.Stop().Done()
	wg.Wait()
	return nil
}

// consume runs the consumer until ctx ends, restarting it with a bounded
// backoff after errors (Postgres or Kafka away).
func consume(ctx context.Context, c *ingest.Consumer, onError func(), log *slog.Logger) {
	backoff := time.Second
	for ctx.Err() == nil {
		began, before := time.Now(), c.Totals()
		err := c.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if c.Totals() != before || time.Since(began) > time.Minute {
			// It worked for a while before failing: a new fault, so
			// start from the shortest wait again.
			backoff = time.Second
		}
		log.Error("ingest failed; retrying", "error", err, "in", backoff)
		if onError != nil {
			onError()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
