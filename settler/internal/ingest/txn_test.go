package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A shop whose producer writes in Kafka transactions (Kafka Streams or
// Connect exactly-once, Debezium, NiFi, any client with a
// transactional.id) leaves commit and abort markers in the partition.
// kafka-go hands them out as messages: each went to the dlq as an invalid
// event ("invalid JSON at byte 0"). They are skipped now, counted, and the
// operator is told that transactions are not supported: kafka-go cannot
// hide an aborted transaction's records (segmentio/kafka-go#1332), which
// the settler takes as sent.
func TestTransactionMarkersSkippedAndWarned(t *testing.T) {
	w := newKafkaWorld(t)
	at := "2026-01-01T00:00:00Z"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.TransactionalID("txn-"+w.prefix),
		kgo.DefaultProduceTopic(w.prefix+TopicOrders))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	txn := func(eventID, orderID string, end kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: placed(eventID, orderID, at, line("l1", "p1", 1, "10.00"))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	txn("e-1", "o-1", kgo.TryCommit)
	txn("e-2", "o-2", kgo.TryCommit)

	var logs bytes.Buffer
	c := NewConsumer(w.pool, EventsDecoder(), Options{Brokers: w.brokers, TopicPrefix: w.prefix, GroupID: w.group},
		slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { c.Close() })
	w.drain(c)
	if got := queryOne[string](t, w.pool, `SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders`); got != "o-1,o-2" {
		t.Errorf("orders %q, want o-1,o-2", got)
	}
	tot := c.Totals()
	if tot.Rejected != 0 || tot.Markers != 2 || tot.Applied != 2 {
		t.Errorf("totals %+v, want 2 applied, 2 markers skipped, none rejected (a marker is no event)", tot)
	}
	if !strings.Contains(logs.String(), "Kafka transactions") || !strings.Contains(logs.String(), "aborted") {
		t.Errorf("no warning that transactions are not supported:\n%s", logs.String())
	}
}
