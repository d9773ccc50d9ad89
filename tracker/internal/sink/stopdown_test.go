package sink_test

import (
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestStopWhileClickHouseDown: a sink asked to stop while ClickHouse is
// down gives up within its shutdown timeout (the batch stays in Kafka,
// uncommitted) instead of hanging.
func TestStopWhileClickHouseDown(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	ch := testenv.StartClickHouse(t)
	_, db := clickhouseDB(t, ch.Addr())
	createTopics(t, brokers, prefix, 2)
	ch.Stop()
	f := newFixture(300, 30, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	f.produceAll(t, brokers, prefix)
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: ch.Addr(), ClickHouseDB: db, PostgresURL: env.PostgresURL(t),
		BatchRows: 100, BatchWait: 100 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		InsertTimeout: 2 * time.Second, ShutdownTimeout: 3 * time.Second,
	})
	time.Sleep(8 * time.Second) // joined, read, retrying
	began := time.Now()
	err := stop()
	if err == nil {
		t.Fatalf("stop with ClickHouse down = nil error, want the unflushed batch reported")
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Fatalf("stop took %s with a 3s shutdown timeout", d)
	}
}
