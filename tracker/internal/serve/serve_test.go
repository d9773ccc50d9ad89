package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Prestart(testenv.PostgresService, testenv.KafkaService)))
}

const shopURL = "https://shop.example"

// tracker is a `tracker serve` running in this process.
type tracker struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// testSettings are the defaults of the flags, with short intervals so the
// tests run quickly.
func testSettings() Settings {
	var st Settings
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	flags(fs, &st, "127.0.0.1:0")
	st.KafkaWriteTimeout = 2 * time.Second
	st.SpoolReplay = 200 * time.Millisecond
	st.LinksPoll = 500 * time.Millisecond
	st.BatchWait = 2 * time.Millisecond
	return st
}

func startTracker(t *testing.T, pgURL string, brokers []string, prefix, spoolDir string, st Settings) *tracker {
	t.Helper()
	env := map[string]string{
		config.KafkaBrokers: strings.Join(brokers, ","), config.KafkaTopicPrefix: prefix,
		config.PostgresURL: pgURL, config.ShopURL: shopURL, config.CookieSecret: "integration-test-secret-0123",
		config.ShopAPIKeys: "shop-key-0123456789", config.SpoolDir: spoolDir,
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.TrackerServeRequired...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &tracker{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	go func() { tr.done <- Run(ctx, cfg, st, logger, ready) }()
	select {
	case tr.addr = <-ready:
	case err := <-tr.done:
		t.Fatalf("tracker did not start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("tracker did not start within 60 s")
	}
	t.Cleanup(func() { tr.stop(t) })
	return tr
}

// stop stops the tracker as SIGTERM would, once.
func (tr *tracker) stop(t *testing.T) {
	t.Helper()
	tr.once.Do(func() {
		tr.cancel()
		select {
		case err := <-tr.done:
			if err != nil {
				t.Errorf("tracker stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("tracker did not stop within 60 s")
		}
	})
}

var noFollow = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
}

// get requests path and returns the status, Location and the new aff_dt
// cookie value ("" when none was set).
func (tr *tracker) get(t *testing.T, path string, hdr map[string]string) (int, string, string, error) {
	req, _ := http.NewRequest("GET", "http://"+tr.addr+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cookie := ""
	for _, c := range resp.Cookies() {
		if c.Name == "aff_dt" {
			cookie = c.Value
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), cookie, nil
}

func pgExec(t *testing.T, pgURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// seed creates partner 1 "serdar" (active) with link code "abcd1234" and
// partner 2 "gone" (suspended) with link "susp1234".
func seed(t *testing.T, pgURL string) {
	t.Helper()
	pgExec(t, pgURL, `INSERT INTO partners (id, name, email, slug, status) VALUES
		(1, 'Serdar', 'serdar@example.com', 'serdar', 'active'),
		(2, 'Gone', 'gone@example.com', 'gone', 'suspended')`)
	pgExec(t, pgURL, `INSERT INTO links (id, code, partner_id, kind, target_url, product_id, category_id) VALUES
		(10, 'abcd1234', 1, 'link', 'https://shop.example/p/42?ref=x', '42', 'shoes'),
		(11, 'susp1234', 2, 'link', 'https://shop.example/p/43', NULL, NULL),
		(12, 'evil1234', 1, 'deep', 'https://evil.example/', NULL, NULL)`)
}

// consume reads topic from the start until stop returns true for the
// records so far or the timeout passes.
func consume(t *testing.T, brokers []string, topic string, timeout time.Duration, stop func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && !stop(recs) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	return recs
}

func decodeClicks(t *testing.T, recs []*kgo.Record) []events.Click {
	t.Helper()
	var out []events.Click
	for _, r := range recs {
		c, err := events.DecodeClick(r.Value)
		if err != nil {
			t.Fatalf("click %s does not decode: %v", r.Value, err)
		}
		if string(r.Key) != c.DeviceToken {
			t.Fatalf("click key %q, want its device token %q", r.Key, c.DeviceToken)
		}
		out = append(out, c)
	}
	return out
}

// Every click lands in Kafka with every field right, whichever way the
// tracker produces (-click-producer).
func TestClickLandsInKafka(t *testing.T) {
	for _, producer := range []string{"writer", "raw"} {
		t.Run(producer, func(t *testing.T) { testClickLandsInKafka(t, producer) })
	}
}

func testClickLandsInKafka(t *testing.T, producer string) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	st := testSettings()
	st.ClickProducer = producer
	if producer == "raw" {
		if err := kafkatopic.Create(context.Background(), brokers, []string{prefix + "clicks"}, kafkatopic.Spec{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
	}
	tr := startTracker(t, pgURL, brokers, prefix, t.TempDir(), st)

	const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
	before := time.Now().UTC()
	status, loc, cookie, err := tr.get(t, "/r/abcd1234", map[string]string{"User-Agent": ua, "Referer": "https://blog.example/post?id=1"})
	if err != nil || status != 302 || loc != "https://shop.example/p/42?ref=x" || cookie == "" {
		t.Fatalf("GET /r/abcd1234 = %d %q cookie %q err %v", status, loc, cookie, err)
	}
	// Same device again (repeat), a deep link, a bot, and what records nothing.
	hdr := map[string]string{"User-Agent": ua, "Cookie": "aff_dt=" + cookie}
	tr.get(t, "/r/abcd1234", hdr)
	tr.get(t, "/SERDAR/products/9?c=red", hdr)
	tr.get(t, "/r/abcd1234", map[string]string{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})
	for _, p := range []string{"/r/susp1234", "/gone", "/r/evil1234", "/r/nope0000", "/nobody"} {
		status, loc, _, _ := tr.get(t, p, hdr)
		want := shopURL
		if p == "/r/susp1234" {
			want = "https://shop.example/p/43" // suspended: the visitor still arrives
		}
		if status != 302 || loc != want {
			t.Fatalf("GET %s = %d %q, want 302 %q", p, status, loc, want)
		}
	}
	after := time.Now().UTC()

	clicks := decodeClicks(t, consume(t, brokers, prefix+"clicks", 30*time.Second, func(r []*kgo.Record) bool { return len(r) >= 4 }))
	// Give stray clicks (which must not exist) a moment to arrive.
	if extra := consume(t, brokers, prefix+"clicks", 2*time.Second, func(r []*kgo.Record) bool { return len(r) > 4 }); len(extra) != 4 {
		t.Fatalf("%d clicks in Kafka, want 4 (suspended, unknown and refused links record nothing)", len(extra))
	}
	byKind := map[string][]events.Click{}
	for _, c := range clicks {
		if c.At.Before(before.Truncate(time.Millisecond)) || c.At.After(after) {
			t.Fatalf("click at %v outside [%v, %v]", c.At, before, after)
		}
		if c.IP.String() != "127.0.0.0" {
			t.Fatalf("click ip %v, want the anonymised 127.0.0.0", c.IP)
		}
		key := string(c.Kind)
		if c.Bot {
			key = "bot"
		}
		byKind[key] = append(byKind[key], c)
	}
	first := byKind["link"][0]
	want := events.Click{ClickID: first.ClickID, At: first.At, DeviceToken: cookie, PartnerID: "1", LinkID: "10",
		Kind: events.KindLink, Target: "https://shop.example/p/42?ref=x", ProductID: "42", CategoryID: "shoes",
		Referer: "https://blog.example/post?id=1", UserAgent: ua, IP: first.IP}
	if len(byKind["link"]) != 2 || first != want {
		t.Fatalf("first click\n%+v\nwant\n%+v", first, want)
	}
	if second := byKind["link"][1]; !second.Repeat || second.DeviceToken != cookie || second.ClickID == first.ClickID {
		t.Fatalf("second click %+v: want a repeat of the same device with its own id", second)
	}
	if d := byKind["deep"]; len(d) != 1 || d[0].Target != "https://shop.example/products/9?c=red" || d[0].LinkID != "slug:serdar" || d[0].PartnerID != "1" {
		t.Fatalf("deep clicks %+v", d)
	}
	if b := byKind["bot"]; len(b) != 1 || b[0].DeviceToken == cookie {
		t.Fatalf("bot clicks %+v", b)
	}
	if producer == "raw" {
		// The topic existed (three partitions): every click went the raw
		// way, none through the Writer. (The sender counts a batch once
		// Kafka acknowledged it: wait for the count.)
		var produced float64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && produced < 4; time.Sleep(20 * time.Millisecond) {
			produced = tr.metric(t, "tracker_clicks_produced_total")
		}
		if fallbacks := tr.metric(t, "tracker_raw_produce_fallbacks_total"); produced != 4 || fallbacks != 0 {
			t.Fatalf("clicks produced %v, %v of them through the Writer after a raw write; want 4 and 0", produced, fallbacks)
		}
	}
}

func TestLinkChangesWithin2s(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	st := testSettings()
	st.LinksPoll = time.Second // the real default: NOTIFY or the poll must make it in time
	tr := startTracker(t, pgURL, env.KafkaBrokers(), env.TopicPrefix(t), t.TempDir(), st)

	waitFor := func(path, want string) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 5*time.Second {
			if _, loc, _, err := tr.get(t, path, nil); err == nil && loc == want {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("GET %s never redirected to %s", path, want)
		return 0
	}
	f := func(what, sql, path, want string) {
		t.Helper()
		pgExec(t, pgURL, sql)
		if d := waitFor(path, want); d > 2*time.Second {
			t.Fatalf("%s: took %v, want under 2 s", what, d)
		} else {
			t.Logf("%s: visible after %v", what, d.Round(time.Millisecond))
		}
	}
	// A writer that notifies, as the dashboard does.
	f("new link with NOTIFY", `BEGIN; INSERT INTO links (code, partner_id, kind, target_url) VALUES ('new11111', 1, 'link', 'https://shop.example/new1');
		SELECT pg_notify('links_changed', 'new11111'); COMMIT`, "/r/new11111", "https://shop.example/new1")
	// A writer that forgets to notify: the poll finds it.
	f("new link without NOTIFY", `INSERT INTO links (code, partner_id, kind, target_url) VALUES ('new22222', 1, 'link', 'https://shop.example/new2')`,
		"/r/new22222", "https://shop.example/new2")
	f("deactivated link", `UPDATE links SET active = false, updated_at = now() WHERE code = 'new22222'`, "/r/new22222", shopURL)
	f("new partner slug", `INSERT INTO partners (id, name, email, slug) VALUES (3, 'Ana', 'ana@example.com', 'ana')`, "/ana/x", "https://shop.example/x")
	f("partner landing page", `UPDATE partners SET landing_url = 'https://shop.example/ana', updated_at = now() WHERE slug = 'ana'`, "/ana", "https://shop.example/ana")
}

func TestHealthzWhenPostgresGone(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	st := testSettings()
	st.LinksStaleAfter = time.Second
	tr := startTracker(t, pgURL, env.KafkaBrokers(), env.TopicPrefix(t), t.TempDir(), st)
	health := func() map[string]any {
		resp, err := http.Get("http://" + tr.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/healthz = %d, %v", resp.StatusCode, err)
		}
		return h
	}
	if h := health(); h["links"] != "fresh" {
		t.Fatalf("/healthz = %v, want fresh links", h)
	}
	// Postgres goes away (the test database is dropped): keep serving.
	u, _ := url.Parse(pgURL)
	db := strings.TrimPrefix(u.Path, "/")
	pgExec(t, env.PostgresAdminURL(), "DROP DATABASE "+db+" WITH (FORCE)")
	deadline := time.Now().Add(10 * time.Second)
	for health()["links"] != "stale" {
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never reported stale links: %v", health())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, loc, _, _ := tr.get(t, "/r/abcd1234", nil); status != 302 || loc != "https://shop.example/p/42?ref=x" {
		t.Fatalf("with Postgres gone GET /r/abcd1234 = %d %q, want the cached target", status, loc)
	}
	resp, err := http.Get("http://" + tr.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "tracker_links_stale 1") {
		t.Fatalf("/metrics lacks tracker_links_stale 1")
	}
}

// burst sends n requests from workers goroutines, each a new device, and
// returns the device tokens of the 302 answers.
func burst(t *testing.T, tr *tracker, n, workers int, during func(i int)) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	tokens := map[string]bool{}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				status, _, cookie, err := tr.get(t, "/r/abcd1234", map[string]string{"User-Agent": "Mozilla/5.0 load"})
				if err == nil && status == 302 && cookie != "" {
					mu.Lock()
					tokens[cookie] = true
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		if during != nil {
			during(i)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return tokens
}

// checkAllArrived waits until every token's click is in Kafka and reports
// how many duplicates at-least-once delivery produced.
func checkAllArrived(t *testing.T, brokers []string, topic string, tokens map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	ids := map[string]int{}
	recs := consume(t, brokers, topic, 90*time.Second, func(recs []*kgo.Record) bool {
		return countTokens(recs, tokens) == len(tokens)
	})
	for _, c := range decodeClicks(t, recs) {
		seen[c.DeviceToken]++
		ids[c.ClickID]++
	}
	missing := 0
	for tok := range tokens {
		if seen[tok] == 0 {
			missing++
		}
	}
	dups := len(recs) - len(ids)
	t.Logf("%d clicks answered 302, %d records in Kafka, %d distinct click_ids, %d repeats of a click_id", len(tokens), len(recs), len(ids), dups)
	if missing > 0 {
		t.Fatalf("%d of %d clicks never reached Kafka", missing, len(tokens))
	}
	if len(ids) < len(tokens) {
		t.Fatalf("%d distinct click_ids for %d clicks", len(ids), len(tokens))
	}
}

func countTokens(recs []*kgo.Record, tokens map[string]bool) int {
	got := map[string]bool{}
	for _, r := range recs {
		if tokens[string(r.Key)] {
			got[string(r.Key)] = true
		}
	}
	return len(got)
}

func TestBrokerDownDuringBurst(t *testing.T) {
	for _, producer := range []string{"writer", "raw"} {
		t.Run(producer, func(t *testing.T) { testBrokerDownDuringBurst(t, producer) })
	}
}

func testBrokerDownDuringBurst(t *testing.T, producer string) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	kind := testenv.Apache
	if os.Getenv(testenv.KafkaEnv) == testenv.Kfake {
		kind = testenv.Kfake
	}
	k := testenv.StartKafka(t, kind)
	prefix := env.TopicPrefix(t)
	spoolDir := t.TempDir()
	st := testSettings()
	st.ClickProducer = producer
	tr := startTracker(t, pgURL, k.Brokers(), prefix, spoolDir, st)
	// Warm up: the topic exists and Kafka is known healthy.
	tr.get(t, "/r/abcd1234", nil)
	consume(t, k.Brokers(), prefix+"clicks", 30*time.Second, func(r []*kgo.Record) bool { return len(r) >= 1 })

	const n = 3000
	stopped := false
	tokens := burst(t, tr, n, 8, func(i int) {
		if i == n/3 {
			k.Stop() // mid-burst; the rest is served while Kafka is down
			stopped = true
		}
	})
	if !stopped || len(tokens) != n {
		t.Fatalf("%d of %d requests answered 302 while Kafka was down", len(tokens), n)
	}
	// The spool is reported to Postgres (the sink's watermarks wait for it).
	waitSpoolReport(t, pgURL, true)
	k.Start()
	checkAllArrived(t, k.Brokers(), prefix+"clicks", tokens)
	waitSpoolReport(t, pgURL, false)

	// Kafka down again, and the tracker is stopped (SIGTERM) meanwhile: the
	// drain goes to the spool, and the next process replays it.
	k.Stop()
	more := burst(t, tr, 500, 8, nil)
	tr.stop(t)
	k.Start()
	startTracker(t, pgURL, k.Brokers(), prefix, spoolDir, st)
	for tok := range more {
		tokens[tok] = true
	}
	checkAllArrived(t, k.Brokers(), prefix+"clicks", tokens)
}

func TestGracefulStopLosesNothing(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	spoolDir := t.TempDir()
	st := testSettings()
	tr := startTracker(t, pgURL, brokers, prefix, spoolDir, st)
	const n = 4000
	tokens := burst(t, tr, n, 8, func(i int) {
		if i == n/2 {
			go tr.stop(t) // SIGTERM in the middle of the load
		}
	})
	if len(tokens) < n/4 {
		t.Fatalf("only %d requests answered before the stop", len(tokens))
	}
	// Whatever the drain left in the spool is replayed by the next process.
	time.Sleep(100 * time.Millisecond)
	startTracker(t, pgURL, brokers, prefix, spoolDir, st)
	checkAllArrived(t, brokers, prefix+"clicks", tokens)
}

func TestIngestDurable(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	tr := startTracker(t, pgURL, brokers, prefix, t.TempDir(), testSettings())
	post := func(addr, path, key, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	ids := `{"v":1,"event_id":"i1","at":"2026-11-25T10:00:00Z","device_token":"dev-1","customer_id":"c1"}
{"v":1,"event_id":"i2","at":"2026-11-25T10:00:01+02:00","device_token":"dev-2","customer_id":"c2","email":"a@b.example"}`
	if status, body := post(tr.addr, "/v1/identify", "shop-key-0123456789", ids); status != 202 {
		t.Fatalf("POST /v1/identify = %d %s, want 202", status, body)
	}
	order := `{"v":1,"event_id":"o1","type":"order.placed","order_id":"A-1","at":"2026-11-25T10:05:00Z","device_token":"dev-1","currency":"EUR","lines":[{"line_id":"l1","product_id":"p1","quantity":2,"unit_price":"19.90"}]}`
	if status, body := post(tr.addr, "/v1/orders", "shop-key-0123456789", order); status != 202 {
		t.Fatalf("POST /v1/orders = %d %s, want 202", status, body)
	}
	// 202 came after the ack: the events are already in Kafka.
	idRecs := consume(t, brokers, prefix+"identities", 10*time.Second, func(r []*kgo.Record) bool { return len(r) >= 2 })
	if len(idRecs) != 2 || string(idRecs[0].Key)+string(idRecs[1].Key) != "dev-1dev-2" && string(idRecs[0].Key)+string(idRecs[1].Key) != "dev-2dev-1" {
		t.Fatalf("identities in Kafka: %d records", len(idRecs))
	}
	for _, r := range idRecs {
		if e, err := events.DecodeIdentity(r.Value); err != nil || e.DeviceToken != string(r.Key) {
			t.Fatalf("identity %s: %v", r.Value, err)
		}
	}
	oRecs := consume(t, brokers, prefix+"orders", 10*time.Second, func(r []*kgo.Record) bool { return len(r) >= 1 })
	if len(oRecs) != 1 || string(oRecs[0].Key) != "A-1" {
		t.Fatalf("orders in Kafka: %v", oRecs)
	}
	if o, err := events.DecodeOrder(oRecs[0].Value); err != nil || o.Lines[0].UnitPriceMinor != 1990 {
		t.Fatalf("order %s: %+v %v", oRecs[0].Value, o, err)
	}

	// Limits: a body over -max-body-bytes gets 413, headers over
	// -max-header-bytes are refused, and nothing is written.
	// The body is announced, not sent: the server must refuse on the
	// header alone, before reading it.
	conn, err := net.Dial("tcp", tr.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/identify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer shop-key-0123456789\r\nContent-Length: %d\r\n\r\n", 5<<20)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(line, "HTTP/1.1 413") {
		t.Fatalf("POST announcing 5 MiB = %q, want 413", line)
	}
	if status, _, _, err := tr.get(t, "/r/abcd1234", map[string]string{"X-Big": strings.Repeat("a", 16<<10)}); err == nil && status < 400 {
		t.Fatalf("GET with 16 KiB of headers = %d, want it refused", status)
	}
	if status, _ := post(tr.addr, "/v1/identify", "wrong-key", ids); status != 401 {
		t.Fatalf("POST with a wrong key = %d, want 401", status)
	}

	// Neither Kafka (nothing listens there) nor the spool (1 byte) can take
	// events: 503, never 202.
	st := testSettings()
	st.SpoolMaxBytes = 1
	st.KafkaWriteTimeout = 500 * time.Millisecond
	down := startTracker(t, pgURL, []string{"127.0.0.1:1"}, prefix, t.TempDir(), st)
	if status, body := post(down.addr, "/v1/identify", "shop-key-0123456789", ids); status != 503 {
		t.Fatalf("POST /v1/identify with Kafka and spool down = %d %s, want 503", status, body)
	}
	// Kafka down but the spool works: 202 after the fsync.
	st.SpoolMaxBytes = 1 << 20
	spooled := startTracker(t, pgURL, []string{"127.0.0.1:1"}, prefix, t.TempDir(), st)
	if status, body := post(spooled.addr, "/v1/identify", "shop-key-0123456789", ids); status != 202 {
		t.Fatalf("POST /v1/identify with Kafka down = %d %s, want 202 from the spool", status, body)
	}
}

// TestSIGTERMDuringLoad runs the real binary and sends it SIGTERM in the
// middle of a load: every click answered with a 302 must reach Kafka
// (directly, or through the spool replayed by the next process).
func TestSIGTERMDuringLoad(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	spoolDir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "tracker")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/openaff/affiliate/tracker/cmd/tracker").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "-addr", addr, "-batch-wait", "2ms")
	cmd.Env = append(os.Environ(),
		"AFF_KAFKA_BROKERS="+strings.Join(brokers, ","), "AFF_KAFKA_TOPIC_PREFIX="+prefix, "AFF_POSTGRES_URL="+pgURL,
		"AFF_SHOP_URL="+shopURL, "AFF_COOKIE_SECRET=integration-test-secret-0123", "AFF_SHOP_API_KEYS=shop-key-0123456789", "AFF_SPOOL_DIR="+spoolDir)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 300 {
			t.Fatalf("tracker never listened:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	tr := &tracker{addr: addr}
	const n = 4000
	tokens := burst(t, tr, n, 8, func(i int) {
		if i == n/2 {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	})
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("tracker exited with %v after SIGTERM:\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("tracker still running 60 s after SIGTERM")
	}
	if len(tokens) < n/4 {
		t.Fatalf("only %d requests answered before SIGTERM", len(tokens))
	}
	startTracker(t, pgURL, brokers, prefix, spoolDir, testSettings()) // replays anything spooled
	checkAllArrived(t, brokers, prefix+"clicks", tokens)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitSpoolReport waits until tracker_spools says whether a spool holds
// records (an oldest_at) or none does.
func waitSpoolReport(t *testing.T, pgURL string, spooled bool) {
	t.Helper()
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rows, withOldest int
		if err := pg.QueryRow(ctx, `SELECT count(*), count(oldest_at) FROM tracker_spools`).Scan(&rows, &withOldest); err != nil {
			t.Fatal(err)
		}
		if rows > 0 && (withOldest > 0) == spooled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker_spools: %d rows, %d with oldest_at; want spooled=%v", rows, withOldest, spooled)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
