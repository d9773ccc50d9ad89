package sink_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestSinkSurvivesClickHouseOutage: ClickHouse killed mid-stream; the sink
// retries the same batch without committing, and once ClickHouse is back
// every event is in the reports exactly once.
func TestSinkSurvivesClickHouseOutage(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	ch := testenv.StartClickHouse(t)
	conn, db := clickhouseDB(t, ch.Addr())
	createTopics(t, brokers, prefix, 2)

	f := newFixture(4000, 200, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	first, second := f, f
	first.clicks, second.clicks = f.clicks[:2000], f.clicks[2000:]
	first.orders, second.orders = f.orders[:100], f.orders[100:]
	first.identities, second.identities = f.identities[:100], f.identities[100:]
	first.commissions, second.commissions = f.commissions[:100], f.commissions[100:]
	humanFirst := int64(0)
	for i := range 2000 {
		if i%10 != 0 {
			humanFirst++
		}
	}
	first.produceAll(t, brokers, prefix)

	set := metrics.NewSet()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: ch.Addr(), ClickHouseDB: db, PostgresURL: env.PostgresURL(t),
		BatchRows: 500, BatchWait: 200 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		InsertTimeout: 5 * time.Second, Metrics: set,
	})
	waitFor(t, 60*time.Second, "the first half", func() (bool, string) {
		n := queryInt(t, conn, "SELECT toInt64(uniqExactIfMerge(clicks)) FROM daily_clicks")
		return n == humanFirst, fmt.Sprint(n)
	})

	ch.Stop()
	second.produceAll(t, brokers, prefix)
	// The batch in flight may be retrying any of its tables.
	errs := func() (n uint64) {
		for _, table := range []string{"clicks", "identities", "order_events", "order_lines", "commission_facts"} {
			n += set.GetOrCreateCounter(`aff_sink_insert_errors_total{table="` + table + `"}`).Get()
		}
		return n
	}
	waitFor(t, 60*time.Second, "inserts failing while ClickHouse is down", func() (bool, string) {
		return errs() >= 2, fmt.Sprint(errs())
	})
	ch.Start()
	conn, _ = reconnect(t, ch.Addr(), db)

	want := fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d", f.humanClicks, f.botClicks, f.placedOrders, 200, 200)
	waitFor(t, 90*time.Second, "every event after the outage", func() (bool, string) {
		got := reportCounts(t, conn)
		return got == want, got
	})
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
}
