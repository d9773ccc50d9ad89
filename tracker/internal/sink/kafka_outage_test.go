package sink_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestSinkSurvivesKafkaOutage: the broker stopped for 15 s in the middle of
// the sink's consumption and started again; the sink resumes from its
// committed offsets, and every event is in the reports exactly once.
func TestSinkSurvivesKafkaOutage(t *testing.T) {
	env := testenv.Get(t)
	kind := testenv.Apache
	if os.Getenv(testenv.KafkaEnv) == testenv.Kfake {
		kind = testenv.Kfake
	}
	k := testenv.StartKafka(t, kind)
	brokers, prefix := k.Brokers(), env.TopicPrefix(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 2)

	f := newFixture(4000, 200, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	first, second := f, f
	first.clicks, second.clicks = f.clicks[:2000], f.clicks[2000:]
	first.orders, second.orders = f.orders[:100], f.orders[100:]
	first.identities, second.identities = f.identities[:100], f.identities[100:]
	first.commissions, second.commissions = f.commissions[:100], f.commissions[100:]
	first.produceAll(t, brokers, prefix)

	set := metrics.NewSet()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: env.PostgresURL(t),
		BatchRows: 500, BatchWait: 200 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second,
		WatermarkInterval: 500 * time.Millisecond, Metrics: set,
	})
	read := set.GetOrCreateCounter(`aff_sink_read_messages_total`)
	waitFor(t, 60*time.Second, "the first half read", func() (bool, string) {
		return read.Get() >= 2300, fmt.Sprint(read.Get())
	})
	k.Stop()
	time.Sleep(15 * time.Second)
	k.Start()
	second.produceAll(t, brokers, prefix)

	want := fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d", f.humanClicks, f.botClicks, f.placedOrders, 200, 200)
	waitFor(t, 120*time.Second, "every event after the broker outage", func() (bool, string) {
		got := reportCounts(t, conn)
		return got == want, got
	})
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
}
