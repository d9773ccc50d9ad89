package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
	"github.com/segmentio/kafka-go"
)

// toPartition sends every message to one partition.
type toPartition int

func (p toPartition) Balance(kafka.Message, ...int) int { return int(p) }

func readWatermark(t *testing.T, pgURL, topic string) time.Time {
	t.Helper()
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx) // called in polling loops: closed at once
	var wm time.Time
	err = pg.QueryRow(ctx, `SELECT watermark FROM sink_watermarks WHERE topic = $1`, topic).Scan(&wm)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	return wm
}

// TestWatermarkAndLag: an idle partition (no messages at all) and a caught-up
// partition do not hold the clicks watermark back; while ClickHouse is down
// the lag shows the waiting messages and the watermark stops before them;
// once ClickHouse is back it moves on and the lag returns to 0.
func TestWatermarkAndLag(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	ch := testenv.StartClickHouse(t)
	_, db := clickhouseDB(t, ch.Addr())
	createTopics(t, brokers, prefix, 2)

	produceTo := func(f fixture) {
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: prefix + "clicks", Balancer: toPartition(0),
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
		defer w.Close()
		if err := w.WriteMessages(context.Background(), f.clicks...); err != nil {
			t.Fatal(err)
		}
	}
	// Old clicks on partition 0 only; partition 1 stays empty.
	produceTo(newFixture(200, 0, time.Now().UTC().Add(-2*time.Hour)))
	set := metrics.NewSet()
	began := time.Now().UTC()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: ch.Addr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 100, BatchWait: 100 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond,
		WatermarkInterval: 200 * time.Millisecond, InsertTimeout: 5 * time.Second, Metrics: set,
	})
	waitFor(t, 60*time.Second, "the clicks watermark to pass the sink's start (caught up, idle partition ignored)", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return wm.After(began), wm.String()
	})

	lag := set.GetOrCreateGauge(`aff_sink_lag_messages{topic="clicks"}`, nil)
	ch.Stop()
	stoppedAt := time.Now().UTC()
	produceTo(newFixture(50, 0, time.Now().UTC().Add(-time.Hour)))
	waitFor(t, 30*time.Second, "lag while ClickHouse is down", func() (bool, string) {
		return lag.Get() == 50, fmt.Sprint(lag.Get())
	})
	time.Sleep(time.Second) // several watermark refreshes
	if wm := readWatermark(t, pgURL, "clicks"); wm.After(stoppedAt) {
		t.Fatalf("watermark %s moved past %s while 50 clicks were not in ClickHouse", wm, stoppedAt)
	}

	ch.Start()
	waitFor(t, 90*time.Second, "lag 0 and the watermark past the outage", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return lag.Get() == 0 && wm.After(stoppedAt), fmt.Sprintf("lag %v, watermark %s", lag.Get(), wm)
	})
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
}

// TestWatermarkHoldsBackTheDelay: a caught-up topic's watermark is the time
// the sink saw the high-water mark minus WatermarkDelay, never later (events
// still in the tracker's producer batch must not be skipped by attribution).
func TestWatermarkHoldsBackTheDelay(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	_, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 2)
	const delay = 10 * time.Minute
	began := time.Now().UTC()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 100, BatchWait: 100 * time.Millisecond, WatermarkInterval: 200 * time.Millisecond, WatermarkDelay: delay,
	})
	defer stop()
	waitFor(t, 60*time.Second, "a clicks watermark for the caught-up topic", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return !wm.Before(began.Add(-delay)), wm.String()
	})
	time.Sleep(time.Second) // more refreshes
	if wm, limit := readWatermark(t, pgURL, "clicks"), time.Now().UTC().Add(-delay); wm.After(limit) {
		t.Fatalf("watermark %s is later than now minus the %s delay (%s)", wm, delay, limit)
	}
}

// TestWatermarkWaitsForTrackerSpools: while a tracker reports a record in
// its disk spool (tracker_spools), the clicks watermark stays below that
// record's time; once the spool is reported empty it moves on. The
// commissions topic, which no tracker produces to, is not held back.
func TestWatermarkWaitsForTrackerSpools(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	_, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 2)
	ctx := context.Background()
	pg := connectPG(t, pgURL)
	spooledAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	if _, err := pg.Exec(ctx, `INSERT INTO tracker_spools (tracker_id, oldest_at) VALUES ('t1', $1), ('t2', NULL)`, spooledAt); err != nil {
		t.Fatal(err)
	}
	began := time.Now().UTC()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 100, BatchWait: 100 * time.Millisecond, WatermarkInterval: 200 * time.Millisecond,
	})
	defer stop()
	waitFor(t, 60*time.Second, "the commissions watermark past the start (not held by spools)", func() (bool, string) {
		wm := readWatermark(t, pgURL, "commissions")
		return wm.After(began), wm.String()
	})
	for _, topic := range []string{"clicks", "orders", "identities"} {
		if wm := readWatermark(t, pgURL, topic); wm.After(spooledAt) {
			t.Fatalf("%s watermark %s passed the spooled record of %s", topic, wm, spooledAt)
		}
	}
	if _, err := pg.Exec(ctx, `UPDATE tracker_spools SET oldest_at = NULL, updated_at = now()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the clicks watermark past the start once the spool is empty", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return wm.After(began), wm.String()
	})
}

// TestWatermarkWaitsForReplayedSpools: two trackers write to one partition.
// While tracker A's clicks wait in its spool, tracker B's fresh clicks are
// committed; then A replays (its clicks reach Kafka, its spool is reported
// empty) while ClickHouse is down. The latest committed event time is B's,
// but A's older clicks are not in ClickHouse: the watermark must stay
// below them until they are (before, it jumped to B's time).
func TestWatermarkWaitsForReplayedSpools(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	ch := testenv.StartClickHouse(t)
	_, db := clickhouseDB(t, ch.Addr())
	createTopics(t, brokers, prefix, 1)
	ctx := context.Background()
	pg := connectPG(t, pgURL)
	produce := func(f fixture) {
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: prefix + "clicks", Balancer: toPartition(0),
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
		defer w.Close()
		if err := w.WriteMessages(ctx, f.clicks...); err != nil {
			t.Fatal(err)
		}
	}
	spooledAt := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	if _, err := pg.Exec(ctx, `INSERT INTO tracker_spools (tracker_id, oldest_at) VALUES ('tracker-a', $1)`, spooledAt); err != nil {
		t.Fatal(err)
	}
	set := metrics.NewSet()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: ch.Addr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 100, BatchWait: 100 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond,
		WatermarkInterval: 200 * time.Millisecond, InsertTimeout: 5 * time.Second, Metrics: set,
	})
	// Tracker B's fresh clicks, committed.
	fresh := time.Now().UTC()
	produce(newFixture(100, 0, fresh))
	lag := set.GetOrCreateGauge(`aff_sink_lag_messages{topic="clicks"}`, nil)
	waitFor(t, 60*time.Second, "tracker B's clicks committed", func() (bool, string) {
		var n int
		_ = pg.QueryRow(ctx, `SELECT count(*) FROM sink_partitions WHERE topic = 'clicks' AND max_at >= $1`, fresh.Truncate(time.Second)).Scan(&n)
		return n == 1 && lag.Get() == 0, fmt.Sprintf("partitions past B's time %d, lag %v", n, lag.Get())
	})
	if wm := readWatermark(t, pgURL, "clicks"); wm.After(spooledAt) {
		t.Fatalf("watermark %s passed tracker A's spooled clicks of %s", wm, spooledAt)
	}
	// A replays while ClickHouse is down, and reports its spool empty.
	ch.Stop()
	produce(newFixture(100, 0, spooledAt))
	if _, err := pg.Exec(ctx, `UPDATE tracker_spools SET oldest_at = NULL, updated_at = now() WHERE tracker_id = 'tracker-a'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "A's clicks waiting", func() (bool, string) {
		return lag.Get() == 100, fmt.Sprint(lag.Get())
	})
	time.Sleep(2 * time.Second) // many refreshes
	if wm := readWatermark(t, pgURL, "clicks"); wm.After(spooledAt) {
		t.Fatalf("watermark %s passed tracker A's replayed clicks of %s, which are not in ClickHouse", wm, spooledAt)
	}
	ch.Start()
	waitFor(t, 90*time.Second, "the watermark past B's clicks once A's are in", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return lag.Get() == 0 && wm.After(fresh), fmt.Sprintf("lag %v, watermark %s", lag.Get(), wm)
	})
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
}

// connectPG connects to Postgres at url for the test, closed at its end.
func connectPG(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	pg, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	return pg
}
