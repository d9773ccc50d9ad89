package sink

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/config"
)

// Main is `tracker sink`: it reads AFF_* (DESIGN §4.1) and the flags in
// args (without the subcommand), serves metrics, and runs the sink until ctx
// is cancelled.
func Main(ctx context.Context, args []string) error {
	DefaultGC()
	fs := flag.NewFlagSet("tracker sink", flag.ContinueOnError)
	batchRows := fs.Int("batch-rows", 200_000, "flush a batch at this many messages (two batches are in memory: about 1 KiB per click each)")
	batchWait := fs.Duration("batch-wait", time.Second, "flush a batch at most this long after its first message (e.g. 1s, 500ms)")
	retryMax := fs.Duration("retry-max", 30*time.Second, "longest backoff between insert retries while ClickHouse refuses")
	wmInterval := fs.Duration("watermark-interval", 5*time.Second, "how often watermarks and lag are refreshed")
	wmDelay := fs.Duration("watermark-delay", 5*time.Second, "held back from the watermark of a caught-up partition: the longest an event may take from the tracker to Kafka while Kafka is healthy")
	staleDefault := DefaultSpoolReportStale
	if d, err := time.ParseDuration(os.Getenv("AFF_SETTLER_MAX_WAIT")); err == nil && d > 0 {
		staleDefault = d // the settler's, from a shared environment
	}
	spoolStale := fs.Duration("spool-report-stale", staleDefault, "a tracker_spools row with nothing spooled (oldest_at NULL) whose last report is older than this no longer holds the clicks, identities and orders watermarks, and is logged (a live tracker reports every second or so; rows with spooled records always hold). Default: AFF_SETTLER_MAX_WAIT when set, else 1h (its default). A tracker cut off from Postgres longer than this while it spools clicks has them replayed after the watermark passed them: orders decided meanwhile did not see them, unflagged")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long the final flush may take on shutdown")
	fetchMax := fs.Int("fetch-max-bytes", 1<<20, "largest fetch from one partition, in bytes (a partition's goroutine decodes one fetch at a time; at least one whole record batch is fetched whatever the limit)")
	parallel := fs.Int("insert-parallelism", 2, "INSERTs of one table run at once (each of at least 10000 rows)")
	maxMonths := fs.Int("insert-max-months", DefaultInsertMaxMonths, "most distinct months (table partitions) one INSERT touches; a batch spanning more is sent in several; keep it at or below ClickHouse's max_partitions_per_insert_block")
	insertTimeout := fs.Duration("insert-timeout", 30*time.Second, "longest wait for ClickHouse to accept one INSERT before it is retried")
	group := fs.String("group", "", "Kafka consumer group (default: AFF_KAFKA_TOPIC_PREFIX + \"sink\")")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9464", "listen address of GET /metrics (empty: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(config.TrackerSinkRequired...)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	set := metrics.NewSet()
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("cannot listen on -metrics-addr %s: %w", *metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
			set.WritePrometheus(w)
			metrics.WriteProcessMetrics(w)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "error", err)
			}
		}()
		defer srv.Close()
		log.Info("sink metrics", "addr", ln.Addr().String())
	}
	return Run(ctx, Config{
		Brokers:           cfg.KafkaBrokers,
		TopicPrefix:       cfg.KafkaTopicPrefix,
		GroupID:           *group,
		ClickHouseAddr:    cfg.ClickHouseAddr,
		ClickHouseDB:      cfg.ClickHouseDB,
		PostgresURL:       cfg.PostgresURL,
		BatchRows:         *batchRows,
		BatchWait:         *batchWait,
		RetryMax:          *retryMax,
		WatermarkInterval: *wmInterval,
		WatermarkDelay:    *wmDelay,
		SpoolReportStale:  *spoolStale,
		ShutdownTimeout:   *shutdown,
		FetchMaxBytes:     *fetchMax,
		InsertParallelism: *parallel,
		InsertMaxMonths:   *maxMonths,
		InsertTimeout:     *insertTimeout,
		Metrics:           set,
		Logger:            log,
	})
}

// GCPercent is the garbage collector's target that Main sets unless GOGC is
// in the environment. The sink keeps two batches alive (about 400 MB at the
// default -batch-rows) and allocates every message anew (kafka-go), so at
// Go's default of 100 it collects often over a large live heap. In the
// throughput benchmark, 200 cut the sink's CPU per click by about a tenth
// (3.5-3.8 against 4.1-4.2 µs over 1M clicks; 4.8 against 6.2 over 3M) for
// a peak heap of 1.1-1.5 GB instead of 0.8-1.0.
const GCPercent = 200

// DefaultGC sets GCPercent unless GOGC is set. Main calls it, and so does the
// throughput benchmark, which runs the sink in the test process.
func DefaultGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
