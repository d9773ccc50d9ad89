package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
	"github.com/segmentio/kafka-go"
)

// reportCounts are what the rollups say, the numbers analysts see.
func reportCounts(t testing.TB, conn driver.Conn) string {
	t.Helper()
	return fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d",
		queryInt(t, conn, "SELECT toInt64(uniqExactIfMerge(clicks)) FROM daily_clicks"),
		queryInt(t, conn, "SELECT toInt64(uniqExactIfMerge(bot_clicks)) FROM daily_clicks"),
		queryInt(t, conn, "SELECT toInt64(uniqExactIfMerge(orders)) FROM daily_orders"),
		queryInt(t, conn, "SELECT toInt64(count()) FROM (SELECT commission_id FROM commissions_current GROUP BY commission_id)"),
		queryInt(t, conn, "SELECT toInt64(uniqExact(event_id)) FROM identities"))
}

// insertedRows is how many rows the sink has inserted into the base tables
// (base tables may merge replays away, so their count cannot tell).
func insertedRows(set *metrics.Set) int64 {
	var n uint64
	for _, table := range []string{"clicks", "identities", "order_events", "commission_facts"} {
		n += set.GetOrCreateCounter(`aff_sink_rows_total{table="` + table + `"}`).Get()
	}
	return int64(n)
}

// TestSinkExactlyOnceInReports: N events in, exactly N in the reports; a
// poison message goes to the DLQ without blocking its partition; the same
// events produced again change no report; the watermark advances.
func TestSinkExactlyOnceInReports(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 3)

	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	f := newFixture(5000, 300, start)
	// A poison click in the middle of partition traffic: it must reach the
	// DLQ and the clicks after it must still arrive.
	poison := kafka.Message{Key: []byte("dev00001"), Value: []byte(`{"v":1,"click_id":"not-a-uuid"}`)}
	f.clicks = append(f.clicks[:2500], append([]kafka.Message{poison}, f.clicks[2500:]...)...)
	f.produceAll(t, brokers, prefix)

	set := metrics.NewSet()
	stop := startSink(t, sink.Config{Metrics: set,
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db,
		PostgresURL: pgURL, BatchRows: 1000, BatchWait: 200 * time.Millisecond, WatermarkInterval: 300 * time.Millisecond,
	})
	want := fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d", f.humanClicks, f.botClicks, f.placedOrders, 300, 300)
	waitFor(t, 60*time.Second, "every event in the reports", func() (bool, string) {
		got := reportCounts(t, conn)
		return got == want, got
	})

	// The poison message is in the DLQ with its location.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: prefix + "dlq", Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var found bool
	for !found {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			// The record may be on another DLQ partition only if keys
			// hash there; this test's DLQ has 3, so read by key below.
			t.Fatalf("no DLQ record on partition 0: %v", err)
		}
		d, err := events.DecodeDLQRecord(m.Value)
		if err != nil {
			t.Fatalf("DLQ record does not decode: %v", err)
		}
		if d.Topic == prefix+"clicks" && string(d.Payload) == string(poison.Value) {
			found = true
			if d.Offset < 0 || d.Reason == "" {
				t.Fatalf("DLQ record = %+v, want offset and reason", d)
			}
		}
	}

	// Replay: the same events again (as after a crash before the commit).
	before := insertedRows(set)
	f.produceAll(t, brokers, prefix)
	total := int64(len(f.clicks)-1) + int64(len(f.orders)+len(f.identities)+len(f.commissions))
	waitFor(t, 60*time.Second, "the replay in the base tables", func() (bool, string) {
		n := insertedRows(set)
		return n >= before+total, fmt.Sprint(n)
	})
	if got := reportCounts(t, conn); got != want {
		t.Fatalf("after replay: reports = %s, want %s", got, want)
	}

	// Caught up: every topic's watermark has reached a time after the
	// newest event.
	waitFor(t, 30*time.Second, "watermarks", func() (bool, string) {
		pg, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close(context.Background())
		var n int
		var minWM time.Time
		if err := pg.QueryRow(context.Background(), `SELECT count(*), coalesce(min(watermark), 'epoch') FROM sink_watermarks`).Scan(&n, &minWM); err != nil {
			t.Fatal(err)
		}
		return n == 4 && minWM.After(start.Add(time.Hour-time.Minute)), fmt.Sprintf("%d topics, min %s", n, minWM)
	})
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
}
