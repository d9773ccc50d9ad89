package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// Headers of a typical visitor: a desktop Chrome and a blog post as referer,
// so that the spooled clicks have a realistic size.
var visitor = map[string]string{
	"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Referer":    "https://blog.example/2026/11/the-best-running-shoes-of-the-year",
}

// brokerKind is the kind of dedicated broker a fault test starts: the real
// Apache broker unless AFF_TEST_KAFKA=kfake.
func brokerKind() string {
	if os.Getenv(testenv.KafkaEnv) == testenv.Kfake {
		return testenv.Kfake
	}
	return testenv.Apache
}

// TestBrokerOutage15sUnderClickLoad stops the broker for 15 s in the middle
// of a steady click load and starts it again. The tracker answers every
// request with a 302 during the whole outage without waiting for Kafka,
// spools the clicks and replays them: every click that got a 302 is in the
// clicks topic with one click_id (a click_id may repeat only as an identical
// record, which at-least-once delivery allows and consumers drop), and in
// ClickHouse's clicks table and daily_clicks report exactly once after the
// sink. It logs the spooled bytes per click, the figure of the spool sizing
// in tracker/README.md.
func TestBrokerOutage15sUnderClickLoad(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	k := testenv.StartKafka(t, brokerKind())
	brokers, prefix := k.Brokers(), env.TopicPrefix(t)
	tr := startTracker(t, pgURL, brokers, prefix, t.TempDir(), testSettings())

	// Warm up: the topic exists and the producer has written once.
	status, _, warm, err := tr.get(t, "/r/abcd1234", visitor)
	if err != nil || status != 302 || warm == "" {
		t.Fatalf("warm-up GET = %d cookie %q err %v", status, warm, err)
	}
	consume(t, brokers, prefix+"clicks", 30*time.Second, func(r []*kgo.Record) bool { return len(r) >= 1 })

	const rate, outage = 400, 15 * time.Second // clicks per second
	load := startLoad(tr, rate, 16)
	t.Cleanup(func() { load.stop() }) // when the test fails before the end
	time.Sleep(3 * time.Second)
	k.Stop()
	down := time.Now()
	time.Sleep(outage)
	spoolBytes, spooledClicks := tr.metric(t, "tracker_spool_bytes"), tr.metric(t, "tracker_clicks_spooled_total")
	up := time.Now()
	k.Start()
	ready := time.Now()
	waitSpoolEmpty(t, tr) // while the load goes on
	drained := time.Since(ready)
	time.Sleep(3*time.Second - min(drained, 3*time.Second))
	results := load.stop()
	if len(results) < rate {
		t.Fatalf("%d requests in about 21 s at %d/s: the load did not run", len(results), rate)
	}

	// Every request answered 302 with a new device, also while the broker
	// was down, and none waited for the broker.
	tokens := map[string]bool{warm: true}
	var during int
	var latencies []time.Duration
	for _, r := range results {
		if r.err != nil || r.status != 302 || r.token == "" {
			t.Fatalf("request at %s: status %d cookie %q err %v, want 302 with a new device",
				r.at.Format("15:04:05.000"), r.status, r.token, r.err)
		}
		tokens[r.token] = true
		if !r.at.Before(down) && r.at.Before(up) {
			during++
		}
		latencies = append(latencies, r.latency)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p99, worst := latencies[len(latencies)*99/100], latencies[len(latencies)-1]
	t.Logf("%d requests (%d while the broker was down for %v), all 302; latency p99 %v, max %v",
		len(results), during, up.Sub(down).Round(time.Millisecond), p99, worst)
	if len(tokens) != len(results)+1 {
		t.Fatalf("%d device tokens for %d requests: a device was given twice", len(tokens)-1, len(results))
	}
	if during < rate*int(outage/time.Second)/2 {
		t.Fatalf("only %d requests while the broker was down: the load did not run", during)
	}
	// A handler that waited for Kafka would take the write timeout (2 s)
	// or the whole outage; the bounds leave room for a loaded machine.
	if p99 > time.Second || worst > 5*time.Second {
		t.Fatalf("latency p99 %v, max %v: the handler waited for Kafka", p99, worst)
	}

	// The spool took the outage; its bytes per click size the spool.
	if spooledClicks < float64(during) || spoolBytes <= 0 {
		t.Fatalf("at the end of the outage %v clicks spooled in %v bytes, want at least the %d answered meanwhile", spooledClicks, spoolBytes, during)
	}
	perClick := spoolBytes / spooledClicks
	t.Logf("spool at the end of the outage: %.0f clicks in %.0f bytes = %.0f bytes per click; at 10k clicks/s 1 GiB lasts %.1f min",
		spooledClicks, spoolBytes, perClick, float64(1<<30)/perClick/10_000/60)
	t.Logf("broker up in %v; spool empty %v later (replay and the live load)", ready.Sub(up).Round(time.Millisecond), drained.Round(time.Millisecond))

	// Replayed: every click in the topic, under one click_id each.
	recs := consume(t, brokers, prefix+"clicks", 120*time.Second, func(recs []*kgo.Record) bool {
		return countTokens(recs, tokens) == len(tokens)
	})
	checkClickIDs(t, recs, tokens)

	// Through the sink into ClickHouse: each click exactly once.
	checkClickHouse(t, env, pgURL, brokers, prefix, len(tokens))
}

// checkClickIDs asserts that every token has exactly one click_id in recs
// and that a click_id repeats only as an identical record.
func checkClickIDs(t *testing.T, recs []*kgo.Record, tokens map[string]bool) {
	t.Helper()
	byID := map[string][]byte{}
	idsOf := map[string]map[string]bool{}
	repeats := 0
	for i, c := range decodeClicks(t, recs) {
		if prev, ok := byID[c.ClickID]; ok {
			repeats++
			if !bytes.Equal(prev, recs[i].Value) {
				t.Fatalf("click_id %s repeats with another body:\n%s\n%s", c.ClickID, prev, recs[i].Value)
			}
			continue
		}
		byID[c.ClickID] = recs[i].Value
		if idsOf[c.DeviceToken] == nil {
			idsOf[c.DeviceToken] = map[string]bool{}
		}
		idsOf[c.DeviceToken][c.ClickID] = true
	}
	for tok := range tokens {
		if n := len(idsOf[tok]); n != 1 {
			t.Fatalf("device %s has %d click_ids in Kafka, want 1", tok, n)
		}
	}
	if len(byID) != len(tokens) {
		t.Fatalf("%d distinct click_ids in Kafka for %d clicks", len(byID), len(tokens))
	}
	t.Logf("%d records in Kafka for %d clicks: %d identical repeats of a click_id (at-least-once; consumers drop them)",
		len(recs), len(tokens), repeats)
}

// waitSpoolEmpty waits until the tracker has replayed and removed its spool.
func waitSpoolEmpty(t *testing.T, tr *tracker) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for tr.metric(t, "tracker_spool_bytes") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spool still holds %v bytes 30 s after every click was in Kafka", tr.metric(t, "tracker_spool_bytes"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkClickHouse runs a sink over the clicks topic into a fresh ClickHouse
// database and waits until the clicks table and the daily_clicks report
// hold want clicks, then asserts that none is there twice.
func checkClickHouse(t *testing.T, env *testenv.Env, pgURL string, brokers []string, prefix string, want int) {
	t.Helper()
	ensureTopics(t, brokers, prefix, "identities", "orders", "commissions", "dlq")
	db := env.ClickHouseDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	set := metrics.NewSet()
	go func() {
		done <- sink.Run(ctx, sink.Config{
			Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
			BatchRows: 5000, BatchWait: 200 * time.Millisecond, Metrics: set,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	}()
	conn, err := migrate.Open(context.Background(), env.ClickHouseAddr(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	report := "SELECT toInt64(uniqExactIfMerge(clicks)) FROM daily_clicks WHERE partner_id = '1'"
	deadline := time.Now().Add(60 * time.Second)
	for chInt(t, conn, report) < int64(want) {
		if time.Now().After(deadline) {
			t.Fatalf("daily_clicks report has %d clicks 60 s after the sink started, want %d", chInt(t, conn, report), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	f := func(q string, want int64) {
		t.Helper()
		if got := chInt(t, conn, q); got != want {
			t.Fatalf("%s = %d, want %d", q, got, want)
		}
	}
	f(report, int64(want))
	f("SELECT toInt64(uniqExact(click_id)) FROM clicks", int64(want))
	f("SELECT toInt64(uniqExact(device_token)) FROM clicks", int64(want))
	f("SELECT toInt64(count()) FROM clicks FINAL", int64(want))
	f("SELECT toInt64(count()) FROM device_clicks FINAL", int64(want))
	t.Logf("ClickHouse: %d rows inserted into clicks, %d clicks after FINAL and in daily_clicks",
		set.GetOrCreateCounter(`aff_sink_rows_total{table="clicks"}`).Get(), want)
}

func chInt(t *testing.T, conn driver.Conn, q string) int64 {
	t.Helper()
	var v int64
	if err := conn.QueryRow(context.Background(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// ensureTopics creates the topics prefix+names (one partition each) unless
// they exist.
func ensureTopics(t *testing.T, brokers []string, prefix string, names ...string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	var topics []kafka.TopicConfig
	for _, n := range names {
		topics = append(topics, kafka.TopicConfig{Topic: prefix + n, NumPartitions: 1, ReplicationFactor: 1})
	}
	resp, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			t.Fatalf("CreateTopics %s: %v", name, err)
		}
	}
}

// metric returns the value of the unlabelled metric name on /metrics.
func (tr *tracker) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tr.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// loadResult is one request of a clickLoad.
type loadResult struct {
	at      time.Time
	latency time.Duration
	status  int
	token   string
	err     error
}

// clickLoad sends GET /r/abcd1234 as a new visitor (no cookie) at a steady
// rate until stopped.
type clickLoad struct {
	quit    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []loadResult
}

// startLoad starts about rate requests per second from workers goroutines.
func startLoad(tr *tracker, rate, workers int) *clickLoad {
	l := &clickLoad{quit: make(chan struct{})}
	jobs := make(chan struct{})
	l.wg.Add(1)
	go func() { // the pacer: rate/100 requests every 10 ms
		defer l.wg.Done()
		defer close(jobs)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.quit:
				return
			case <-tick.C:
			}
			for range rate / 100 {
				select {
				case jobs <- struct{}{}:
				case <-l.quit:
					return
				}
			}
		}
	}()
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for range jobs {
				start := time.Now()
				status, _, token, err := tr.get(nil, "/r/abcd1234", visitor)
				r := loadResult{at: start, latency: time.Since(start), status: status, token: token, err: err}
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// stop ends the load and returns every request's result.
func (l *clickLoad) stop() []loadResult {
	l.once.Do(func() { close(l.quit) })
	l.wg.Wait()
	return l.results
}
