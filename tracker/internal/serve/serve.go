// Package serve wires `tracker serve`: configuration and flags, the link
// cache, the producer with its spool, and the fasthttp server, with a
// graceful stop on SIGTERM.
package serve

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof-addr
	"os"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/devcookie"
	"github.com/openaff/affiliate/tracker/internal/links"
	"github.com/openaff/affiliate/tracker/internal/producer"
	"github.com/openaff/affiliate/tracker/internal/server"
	"github.com/openaff/affiliate/tracker/internal/spool"
)

// Settings are the limits and tunables of `tracker serve`, each a flag
// whose help text gives its unit.
type Settings struct {
	Addr                string
	MaxBodyBytes        int
	MaxEvents           int
	MaxHeaderBytes      int
	MaxConns            int
	ReadTimeout         time.Duration
	WriteTimeout        time.Duration
	IdleTimeout         time.Duration
	QueueSize           int
	BatchSize           int
	PartitionBatch      int
	KafkaBatchBytes     int
	BatchWait           time.Duration
	KafkaWriteTimeout   time.Duration
	KafkaAutoCreate     bool
	SpoolMaxBytes       int64
	SpoolSegmentBytes   int64
	SpoolSync           time.Duration
	SpoolReplay         time.Duration
	LinksPoll           time.Duration
	LinksOverlap        time.Duration
	LinksFullReload     time.Duration
	LinksStaleAfter     time.Duration
	LinksLoadTimeout    time.Duration
	ShutdownTimeout     time.Duration
	ClientIPHeader      string
	BotCacheEntries     int
	RepeatWindow        time.Duration
	RepeatEntries       int
	PprofAddr           string
	Compression         string
	ClickProducer       string
	TrackerID           string
	SpoolReport         time.Duration
	UnhealthyUnreported time.Duration
}

// flags registers the settings on fs with their defaults.
func flags(fs *flag.FlagSet, s *Settings, defaultAddr string) {
	fs.StringVar(&s.Addr, "addr", defaultAddr, "listen address host:port (overrides AFF_TRACKER_ADDR)")
	fs.IntVar(&s.MaxBodyBytes, "max-body-bytes", 4<<20, "largest request body in bytes; larger bodies get 413")
	fs.IntVar(&s.MaxEvents, "max-events", 1000, "most events in one /v1 request; more get 413")
	fs.IntVar(&s.MaxHeaderBytes, "max-header-bytes", 8<<10, "largest request line plus headers in bytes")
	fs.IntVar(&s.MaxConns, "max-conns", 64<<10, "most concurrent connections")
	fs.DurationVar(&s.ReadTimeout, "read-timeout", 5*time.Second, "time to read a whole request, headers and body (slowloris guard)")
	fs.DurationVar(&s.WriteTimeout, "write-timeout", 10*time.Second, "time to write a response")
	fs.DurationVar(&s.IdleTimeout, "idle-timeout", 60*time.Second, "how long a keep-alive connection may idle")
	fs.IntVar(&s.QueueSize, "queue-size", 64<<10, "in-memory click queue, in clicks; when full, clicks go to the spool")
	fs.IntVar(&s.BatchSize, "batch-size", 10000, "most clicks per Kafka write")
	fs.IntVar(&s.PartitionBatch, "partition-batch", producer.DefaultPartitionBatch, "most messages per produce request to one partition (kafka-go allocates this many per partition a write touches)")
	fs.IntVar(&s.KafkaBatchBytes, "kafka-batch-bytes", producer.DefaultMaxBatchBytes, "most bytes of messages (keys and values before compression) in one produce request to one partition; keep it below the smallest max.message.bytes of the topics (1 MiB for clicks in deploy/kafka/topics.sh): a larger request is refused for good. A /v1 event larger than this gets 413")
	fs.DurationVar(&s.BatchWait, "batch-wait", 50*time.Millisecond, "how long to wait to fill a click batch (bigger batches cost Kafka less CPU)")
	fs.DurationVar(&s.KafkaWriteTimeout, "kafka-write-timeout", 3*time.Second, "deadline of one Kafka write; after it the batch is spooled")
	fs.BoolVar(&s.KafkaAutoCreate, "kafka-auto-create-topics", true, "let the broker create missing topics")
	fs.Int64Var(&s.SpoolMaxBytes, "spool-max-bytes", 10<<30, "disk spool limit in bytes; beyond it clicks are dropped (counted) and /v1 answers 503")
	fs.Int64Var(&s.SpoolSegmentBytes, "spool-segment-bytes", 64<<20, "spool segment file size in bytes")
	fs.DurationVar(&s.SpoolSync, "spool-sync-interval", 100*time.Millisecond, "fsync interval for clicks spooled because the queue was full")
	fs.DurationVar(&s.SpoolReplay, "spool-replay-interval", time.Second, "how often the spool is replayed to Kafka")
	fs.DurationVar(&s.LinksPoll, "links-poll-interval", time.Second, "incremental link poll interval (NOTIFY wakes it earlier)")
	fs.DurationVar(&s.LinksOverlap, "links-poll-overlap", 30*time.Second, "how far back each poll re-reads updated_at (covers long transactions)")
	fs.DurationVar(&s.LinksFullReload, "links-full-reload", 5*time.Minute, "interval of full link reloads")
	fs.DurationVar(&s.LinksStaleAfter, "links-stale-after", 10*time.Second, "link-cache age at which /healthz and metrics report stale")
	fs.DurationVar(&s.LinksLoadTimeout, "links-load-timeout", 30*time.Second, "how long start waits for the first link load")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, time to finish requests and drain clicks to Kafka before spooling the rest")
	fs.StringVar(&s.ClientIPHeader, "client-ip-header", "", "header whose last address is the client (e.g. X-Forwarded-For); only behind a trusted proxy")
	fs.IntVar(&s.BotCacheEntries, "bot-cache-entries", 100_000, "user agents whose bot verdict is cached")
	fs.DurationVar(&s.RepeatWindow, "repeat-window", time.Hour, "a click of the same device on the same link within this time is flagged repeat")
	fs.IntVar(&s.RepeatEntries, "repeat-entries", 1<<20, "device-link pairs remembered for the repeat flag")
	fs.StringVar(&s.Compression, "kafka-compression", "snappy", "compression of produced batches: none, snappy, lz4, zstd or gzip")
	fs.StringVar(&s.ClickProducer, "click-producer", "raw", "how clicks go to Kafka: raw (record batches encoded by the tracker, one produce request per partition and chunk, about half the Writer's CPU per click; kafka-go's Writer takes whatever a raw write could not deliver) or writer (kafka-go's Writer for every batch)")
	fs.StringVar(&s.PprofAddr, "pprof-addr", "", "if set, serve net/http/pprof on this host:port (keep it private)")
	fs.StringVar(&s.TrackerID, "tracker-id", "", `this tracker's name in Postgres tracker_spools (default "<hostname>:<spool dir>"; keep it stable across restarts)`)
	fs.DurationVar(&s.SpoolReport, "spool-report-interval", time.Second, "how often the spool's oldest record time is written to Postgres (tracker_spools), which holds the sink's watermarks back")
	fs.DurationVar(&s.UnhealthyUnreported, "unhealthy-unreported", 0, "if above 0, /healthz answers 503 once this tracker has held clicks or events for this long that no report in Postgres vouches for (its reports fail, e.g. cut off from Postgres and Kafka): a load balancer then takes it out before the sink's -spool-report-stale lets the watermarks pass them. Keep it well below that; 0 (default): /healthz only says so (spool_unreported_seconds), since pulling every tracker when Postgres and Kafka are down for all would stop redirects")
}

// Main runs `tracker serve` until ctx is done (SIGTERM), then stops
// gracefully. args are the arguments after "serve".
func Main(ctx context.Context, args []string) error {
	cfg, err := config.FromEnv(config.TrackerServeRequired...)
	if err != nil {
		return err
	}
	var st Settings
	fs := flag.NewFlagSet("tracker serve", flag.ContinueOnError)
	flags(fs, &st, cfg.TrackerAddr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if st.PprofAddr != "" {
		go func() {
			// http.DefaultServeMux holds the pprof handlers (net/http/pprof).
			err := http.ListenAndServe(st.PprofAddr, nil)
			logger.Error("pprof server stopped", "error", err)
		}()
	}
	return Run(ctx, cfg, st, logger, nil)
}

// Run starts the tracker and blocks until ctx is done and it stopped. When
// ready is not nil it receives the listening address once serving.
func Run(ctx context.Context, cfg *config.Config, st Settings, logger *slog.Logger, ready chan<- string) error {
	if strings.ContainsAny(cfg.CookieDomain, "; \t,") {
		return fmt.Errorf("%s: %q is not a domain", config.CookieDomain, cfg.CookieDomain)
	}
	set := metrics.NewSet()
	signer, err := devcookie.New(cfg.CookieSecrets)
	if err != nil {
		return err
	}
	cache, loader, err := loadLinks(ctx, cfg, st, set, logger)
	if err != nil {
		return err
	}
	sp, err := spool.Open(cfg.SpoolDir, st.SpoolMaxBytes, st.SpoolSegmentBytes)
	if err != nil {
		return err
	}
	defer sp.Close()
	prod, err := newProducer(cfg, st, sp, set, logger)
	if err != nil {
		return err
	}
	reporter, err := newSpoolReporter(ctx, cfg, st, sp, prod.OldestPending, logger)
	if err != nil {
		prod.Close(context.Background())
		return err
	}
	set.NewGauge(`tracker_spool_unreported_seconds`, func() float64 { return reporter.Unreported().Seconds() })
	srv := server.New(server.Options{
		ShopURL:             cfg.ShopURL.String(),
		Cache:               cache,
		Signer:              signer,
		Cookie:              devcookie.Attrs{Domain: cfg.CookieDomain, Secure: cfg.CookieSecure},
		Producer:            prod,
		APIKeys:             cfg.ShopAPIKeys,
		IdentitiesTopic:     cfg.Topic("identities"),
		OrdersTopic:         cfg.Topic("orders"),
		MaxEvents:           st.MaxEvents,
		MaxMessageBytes:     producer.MaxMessageBytes(st.KafkaBatchBytes),
		StaleAfter:          st.LinksStaleAfter,
		ClientIPHeader:      st.ClientIPHeader,
		Unreported:          reporter.Unreported,
		UnhealthyUnreported: st.UnhealthyUnreported,
		Metrics:             set,
		Logger:              logger,
	})
	hs := newHTTPServer(srv, st)
	ln, err := net.Listen("tcp", st.Addr)
	if err != nil {
		prod.Close(context.Background())
		reporter.pool.Close()
		return fmt.Errorf("cannot listen on %s: %w", st.Addr, err)
	}
	lctx, stopLoader := context.WithCancel(context.Background())
	loaderDone := make(chan struct{})
	go func() { loader.Run(lctx); close(loaderDone) }()
	defer func() { stopLoader(); <-loaderDone }()
	reporterDone := make(chan struct{})
	go func() { reporter.run(lctx); close(reporterDone) }()
	// After the drain: the last report says what the spool still holds.
	defer func() { stopLoader(); <-reporterDone; reporter.final() }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	codes, slugs := cache.Load().Len()
	logger.Info("tracker serving", "addr", ln.Addr().String(), "codes", codes, "slugs", slugs, "spool_bytes", sp.Bytes())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	// Stop accepting and finish in-flight requests, then drain the clicks
	// they queued; the whole stop shares one deadline.
	sctx, cancelStop := context.WithTimeout(context.Background(), st.ShutdownTimeout)
	defer cancelStop()
	if serr := hs.ShutdownWithContext(sctx); serr != nil && err == nil {
		err = fmt.Errorf("http shutdown: %w", serr)
	}
	if perr := prod.Close(sctx); perr != nil {
		logger.Warn("click drain incomplete, rest spooled", "error", perr)
	}
	if cerr := sp.Close(); cerr != nil && err == nil {
		err = cerr
	}
	logger.Info("tracker stopped", "spool_bytes", sp.Bytes())
	return err
}

// loadLinks loads the link cache, waiting at most -links-load-timeout.
func loadLinks(ctx context.Context, cfg *config.Config, st Settings, set *metrics.Set, logger *slog.Logger) (*links.Cache, *links.Loader, error) {
	linkErrors := set.NewCounter(`tracker_links_sync_errors_total`)
	linkRejected := set.NewCounter(`tracker_links_rejected`)
	linkIDsDropped := set.NewCounter(`tracker_links_ids_dropped`)
	lctx, cancel := context.WithTimeout(ctx, st.LinksLoadTimeout)
	defer cancel()
	cache, loader, err := links.New(lctx, links.Options{
		PostgresURL:        cfg.PostgresURL,
		Policy:             links.Policy{ShopURL: cfg.ShopURL, AllowedHosts: cfg.AllowedHosts},
		PollInterval:       st.LinksPoll,
		Overlap:            st.LinksOverlap,
		FullReloadInterval: st.LinksFullReload,
		Logger:             logger,
		OnSync: func(_, _, rejected, droppedIDs int) {
			linkRejected.Set(uint64(rejected))
			linkIDsDropped.Set(uint64(droppedIDs))
		},
		OnError: func(error) { linkErrors.Inc() },
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot load links (see -links-load-timeout): %w", err)
	}
	return cache, loader, nil
}

func newProducer(cfg *config.Config, st Settings, sp *spool.Spool, set *metrics.Set, logger *slog.Logger) (*producer.Producer, error) {
	var compression kafka.Compression
	if st.Compression != "none" {
		if err := compression.UnmarshalText([]byte(st.Compression)); err != nil {
			return nil, fmt.Errorf("-kafka-compression: %w", err)
		}
	}
	if st.KafkaBatchBytes < 64<<10 {
		return nil, fmt.Errorf("-kafka-batch-bytes: %d is below 64 KiB (a click is up to ~6 KB, a shop event larger)", st.KafkaBatchBytes)
	}
	if st.ClickProducer != "writer" && st.ClickProducer != "raw" {
		return nil, fmt.Errorf("-click-producer: %q is neither writer nor raw", st.ClickProducer)
	}
	bots, err := click.NewBotDetector(st.BotCacheEntries)
	if err != nil {
		return nil, err
	}
	return producer.New(producer.Options{
		Brokers:          cfg.KafkaBrokers,
		ClicksTopic:      cfg.Topic("clicks"),
		Spool:            sp,
		Encoder:          &click.Encoder{Bots: bots, Repeats: click.NewRepeatTracker(st.RepeatWindow, st.RepeatEntries)},
		QueueSize:        st.QueueSize,
		BatchSize:        st.BatchSize,
		PartitionBatch:   st.PartitionBatch,
		MaxBatchBytes:    st.KafkaBatchBytes,
		BatchWait:        st.BatchWait,
		WriteTimeout:     st.KafkaWriteTimeout,
		SyncInterval:     st.SpoolSync,
		ReplayInterval:   st.SpoolReplay,
		AutoCreateTopics: st.KafkaAutoCreate,
		Compression:      compression,
		RawClicks:        st.ClickProducer == "raw",
		Logger:           logger,
		Metrics:          producer.NewMetrics(set),
	}), nil
}

// newHTTPServer returns the fasthttp server with every limit set
// explicitly (the same settings as bench/bare).
func newHTTPServer(srv *server.Server, st Settings) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               srv.Handle,
		ErrorHandler:          srv.HandleError,
		Name:                  "tracker",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        st.MaxHeaderBytes,
		MaxRequestBodySize:    st.MaxBodyBytes,
		ReadTimeout:           st.ReadTimeout,
		WriteTimeout:          st.WriteTimeout,
		IdleTimeout:           st.IdleTimeout,
		Concurrency:           st.MaxConns,
		CloseOnShutdown:       true,
		Logger:                discard{},
	}
}

// discard silences fasthttp's per-connection error log (timeouts of idle
// or slow clients); the hot path logs nothing per request.
type discard struct{}

// Printf drops the message.
func (discard) Printf(string, ...any) {}
