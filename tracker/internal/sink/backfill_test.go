package sink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
	"github.com/segmentio/kafka-go"
)

// TestBackfillSpanning150MonthsLands: a shop backfills orders spanning 150
// months (one partition each: every table is PARTITION BY toYYYYMM(at)).
// Current ClickHouse refuses an INSERT block spanning more than
// max_partitions_per_insert_block (100) partitions, on every retry, which
// stopped the whole sink; the sink now sends such a table in INSERTs of at
// most 100 months each. 18.16 has no such limit, so the test database
// enforces it itself: a materialized view on order_events and order_lines
// that throws on an inserted block of more than 100 months.
func TestBackfillSpanning150MonthsLands(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	ctx := context.Background()
	for _, table := range []string{"order_events", "order_lines"} {
		err := conn.Exec(ctx, fmt.Sprintf(`CREATE MATERIALIZED VIEW %s.%s_partition_guard ENGINE = Null
AS SELECT throwIf(uniqExact(toYYYYMM(at)) > 100) AS too_many_partitions FROM %s.%s`, db, table, db, table))
		if err != nil {
			t.Fatal(err)
		}
	}
	// The guard refuses what current ClickHouse refuses (18.16 keeps the
	// rows of the base table anyway: the counts below skip them).
	err := conn.Exec(ctx, `INSERT INTO `+db+`.order_events (event_id, at) SELECT concat('guard-', toString(number)), toDateTime('2000-01-15 00:00:00', 'UTC') + number * 2678400 FROM system.numbers LIMIT 101`)
	if err == nil || !strings.Contains(err.Error(), "throwIf") {
		t.Fatalf("an INSERT spanning 101 months: %v, want the guard's throwIf error", err)
	}
	createTopics(t, brokers, prefix, 1)

	// 600 orders over 150 months, 2000-01 to 2012-06, interleaved so that
	// any 150 consecutive orders span all of them.
	const nOrders, nMonths = 600, 150
	eur := money.MustParseCurrency("EUR")
	start := time.Date(2000, 1, 10, 8, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for i := range nOrders {
		o := events.Order{
			EventID: fmt.Sprintf("backfill-%d", i), Type: events.OrderPlaced, OrderID: fmt.Sprintf("bo%d", i),
			At: start.AddDate(0, (i*7)%nMonths, 0), DeviceToken: fmt.Sprintf("dev%d", i), Currency: eur,
			Lines: []events.Line{{LineID: "1", ProductID: "prod1", Quantity: 1, UnitPriceMinor: 1000}},
		}
		msgs = append(msgs, kafka.Message{Key: []byte(o.OrderID), Value: events.AppendOrder(nil, &o)})
	}
	produce(t, brokers, prefix+"orders", msgs)

	set := metrics.NewSet()
	stop := startSink(t, sink.Config{Metrics: set,
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 10_000, BatchWait: 500 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		WatermarkInterval: 200 * time.Millisecond,
	})
	want := fmt.Sprintf("events=%d lines=%d months=%d orders=%d", nOrders, nOrders, nMonths, nOrders)
	waitFor(t, 60*time.Second, "every backfilled order in ClickHouse", func() (bool, string) {
		got := fmt.Sprintf("events=%d lines=%d months=%d orders=%d",
			queryInt(t, conn, "SELECT toInt64(uniqExact(event_id)) FROM order_events WHERE event_id LIKE 'backfill-%'"),
			queryInt(t, conn, "SELECT toInt64(uniqExact(event_id)) FROM order_lines"),
			queryInt(t, conn, "SELECT toInt64(uniqExact(toYYYYMM(at))) FROM order_events WHERE event_id LIKE 'backfill-%'"),
			queryInt(t, conn, "SELECT toInt64(uniqExactIfMerge(orders)) FROM daily_orders"))
		return got == want, got
	})
	if n := set.GetOrCreateCounter(`aff_sink_insert_errors_total{table="order_events"}`).Get(); n != 0 {
		t.Errorf("%d INSERTs into order_events failed, want none", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
}
