package sink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestTransactionMarkersSkipped: a shop producing orders in Kafka
// transactions leaves commit markers in the topic, which kafka-go hands out
// as messages; each counted as a rejected order (a bad event nobody sent).
// The sink skips them, counts them in aff_sink_txn_markers_total and warns
// that transactions are not supported (kafka-go cannot hide an aborted
// transaction's records).
func TestTransactionMarkersSkipped(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 1)
	f := newFixture(0, 3, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("txn-"+prefix), kgo.DefaultProduceTopic(prefix+"orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, m := range f.orders {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: m.Key, Value: m.Value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	set := metrics.NewSet()
	logs, _ := startSinkLogged(t, sink.Config{Metrics: set, Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(),
		ClickHouseDB: db, PostgresURL: env.PostgresURL(t), BatchRows: 100, BatchWait: 100 * time.Millisecond})
	waitFor(t, 60*time.Second, "three orders and three markers", func() (bool, string) {
		n := queryInt(t, conn, "SELECT toInt64(count()) FROM "+db+".order_events")
		m := set.GetOrCreateCounter(`aff_sink_txn_markers_total{topic="` + prefix + `orders"}`).Get()
		return n == 3 && m == 3, fmt.Sprintf("%d orders, %d markers", n, m)
	})
	if n := set.GetOrCreateCounter(`aff_sink_rejected_total{topic="` + prefix + `orders"}`).Get(); n != 0 {
		t.Errorf("aff_sink_rejected_total = %d, want 0 (a marker is no event)", n)
	}
	if !strings.Contains(logs.String(), "Kafka transactions") {
		t.Errorf("no warning that transactions are not supported:\n%s", logs.String())
	}
}
