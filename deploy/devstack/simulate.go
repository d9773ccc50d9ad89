package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/openaff/affiliate/deploy/devstack/internal/sim"
	"github.com/openaff/affiliate/pkg/money"
)

// cmdSimulate runs the traffic simulator against any tracker (and Kafka)
// until ctx ends or -duration passes.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tracker := fs.String("tracker", "http://"+envOr("AFF_TRACKER_ADDR", "127.0.0.1:8080"), "tracker base URL for /v1/identify and /v1/orders")
	shopKey := fs.String("shop-key", firstOf(envOr("AFF_SHOP_API_KEYS", "")), "shop bearer key (default: the first of AFF_SHOP_API_KEYS)")
	linkList := fs.String("links", "", "comma list of tracking URLs to follow, each optionally URL=product_id (default: every partner's links, from the dashboard)")
	dashboard := fs.String("dashboard", "http://"+envOr("AFF_DASHBOARD_ADDR", "127.0.0.1:8081"), "dashboard base URL, to list the links when -links is empty")
	adminToken := fs.String("admin-token", envOr("AFF_ADMIN_TOKEN", ""), "admin API bearer token (AFF_ADMIN_TOKEN), to list the links")
	brokers := fs.String("kafka", envOr("AFF_KAFKA_BROKERS", ""), "Kafka brokers (comma list) for the orders a shop produces directly; empty: every order goes to /v1/orders")
	prefix := fs.String("topic-prefix", envOr("AFF_KAFKA_TOPIC_PREFIX", "aff."), "Kafka topic prefix")
	share := fs.Float64("kafka-share", 0.3, "share of orders (0 to 1) produced to Kafka instead of /v1/orders")
	pg := fs.String("postgres", envOr("AFF_POSTGRES_URL", ""), "Postgres URL of the ledger, for the settled figures of the progress line (empty: none)")
	currency := fs.String("currency", "EUR", "currency of the orders (the program's)")
	seed := fs.Uint64("seed", 1, "seed: the same seed plays the same visits and orders")
	idPrefix := fs.String("id-prefix", "", `prefix of order, event and customer ids (default "sim<seed>-<start time>", so runs do not collide)`)
	rate := fs.Float64("rate", 20, "requests per second")
	duration := fs.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	every := fs.Duration("progress-every", 10*time.Second, "interval of progress lines when stdout is not a terminal")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devstack simulate: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *shopKey == "" {
		return errors.New("-shop-key (or AFF_SHOP_API_KEYS) is required")
	}
	if *share < 0 || *share > 1 {
		return fmt.Errorf("-kafka-share %v: want 0 to 1", *share)
	}
	cur, err := money.ParseCurrency(*currency)
	if err != nil {
		return fmt.Errorf("-currency: %w", err)
	}
	links, err := parseLinks(*linkList)
	if err != nil {
		return err
	}
	if len(links) == 0 {
		if *adminToken == "" {
			return errors.New("no links: pass -links, or -admin-token (AFF_ADMIN_TOKEN) to list them from the dashboard")
		}
		if links, err = newAdminAPI(*dashboard, *adminToken).simLinks(ctx); err != nil {
			return fmt.Errorf("cannot list the links from the dashboard: %w", err)
		}
		if len(links) == 0 {
			return errors.New("the dashboard lists no partner links: create a partner first")
		}
	}
	if *idPrefix == "" {
		*idPrefix = fmt.Sprintf("sim%d-%s", *seed, strconv.FormatInt(time.Now().Unix(), 36))
	}
	cfg := sim.Config{TrackerURL: *tracker, ShopKey: *shopKey, Links: links, Currency: cur, TopicPrefix: *prefix,
		KafkaShare: *share, Seed: *seed, Prefix: *idPrefix, Rate: *rate, Duration: *duration}
	if *brokers != "" {
		cfg.KafkaBrokers = strings.Split(*brokers, ",")
	}
	r, err := sim.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	var settled func(context.Context) (sim.Settled, error)
	if *pg != "" {
		read, closeDB, err := sim.PostgresSettled(ctx, *pg)
		if err != nil {
			return err
		}
		defer closeDB()
		settled = read
	}
	fmt.Fprintf(stdout, "simulate: %d links, seed %d, ids %s-*, %v requests/s to %s", len(links), *seed, *idPrefix, *rate, *tracker)
	if len(cfg.KafkaBrokers) > 0 {
		fmt.Fprintf(stdout, ", %.0f %% of orders to Kafka %s", *share*100, *brokers)
	}
	fmt.Fprintln(stdout)
	pctx, cancel := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		sim.Progress(pctx, stdout, r, settled, *every)
	}()
	err = r.Run(ctx)
	cancel()
	<-progressDone
	return err
}

func firstOf(list string) string {
	first, _, _ := strings.Cut(list, ",")
	return strings.TrimSpace(first)
}

// parseLinks reads "URL[=product_id],...".
func parseLinks(s string) ([]sim.Link, error) {
	var out []sim.Link
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		u, product, _ := strings.Cut(f, "=")
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("-links: %q is not an http(s) URL", u)
		}
		out = append(out, sim.Link{URL: u, ProductID: product})
	}
	return out, nil
}
