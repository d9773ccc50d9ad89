package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestGracefulShutdownFlushes: a sink stopped while its batch is open (far
// from its row and time limits) inserts and commits that batch before it
// returns; a second sink in the same group finds nothing left to read.
func TestGracefulShutdownFlushes(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 2)
	f := newFixture(1000, 50, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	f.produceAll(t, brokers, prefix)
	total := uint64(len(f.clicks) + len(f.orders) + len(f.identities) + len(f.commissions))

	cfg := sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 1_000_000, BatchWait: time.Hour,
	}
	set := metrics.NewSet()
	cfg.Metrics = set
	stop := startSink(t, cfg)
	read := set.GetOrCreateCounter(`aff_sink_read_messages_total`)
	waitFor(t, 60*time.Second, "every message read into the open batch", func() (bool, string) {
		return read.Get() == total, fmt.Sprint(read.Get())
	})
	if n := queryInt(t, conn, "SELECT toInt64(count()) FROM clicks"); n != 0 {
		t.Fatalf("clicks = %d before the stop, want 0 (the batch must still be open)", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
	want := fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d", f.humanClicks, f.botClicks, f.placedOrders, 50, 50)
	if got := reportCounts(t, conn); got != want {
		t.Fatalf("after a graceful stop: %s, want %s", got, want)
	}

	// The offsets were committed: a new sink of the group reads nothing.
	set2 := metrics.NewSet()
	cfg.Metrics, cfg.BatchWait = set2, 100*time.Millisecond
	stop2 := startSink(t, cfg)
	time.Sleep(5 * time.Second) // group join and a few empty fetches
	if err := stop2(); err != nil {
		t.Fatalf("second sink stop: %v", err)
	}
	if n := set2.GetOrCreateCounter(`aff_sink_read_messages_total`).Get(); n != 0 {
		t.Fatalf("second sink read %d messages, want 0 (offsets not committed on shutdown)", n)
	}
}

// TestStartsBeforeItsTopicsExist: a sink started on a fresh cluster, before
// anything created its topics, creates them, joins, and reads what is
// produced afterwards (a kafka-go group over a missing topic would otherwise
// get none of its partitions until the next rebalance).
func TestStartsBeforeItsTopicsExist(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	set := metrics.NewSet()
	stop := startSink(t, sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db,
		PostgresURL: env.PostgresURL(t), BatchRows: 1000, BatchWait: 100 * time.Millisecond, Metrics: set,
	})
	defer stop()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	waitFor(t, 60*time.Second, "the sink created its topics", func() (bool, string) {
		meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{prefix + "clicks", prefix + "orders"}})
		if err != nil {
			return false, err.Error()
		}
		for _, tp := range meta.Topics {
			if tp.Error != nil {
				return false, tp.Error.Error()
			}
		}
		return len(meta.Topics) == 2, fmt.Sprint(len(meta.Topics))
	})
	f := newFixture(200, 20, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	f.produceAll(t, brokers, prefix)
	want := fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d", f.humanClicks, f.botClicks, f.placedOrders, 20, 20)
	waitFor(t, 60*time.Second, "every event in ClickHouse", func() (bool, string) {
		got := reportCounts(t, conn)
		return got == want, got + ", want " + want
	})
}
