package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestDLQOnlyForTopicsTheSinkAloneReads: an order or identity the sink
// cannot decode is one the settler cannot decode either (the same
// decoders), and the settler sends it to the dlq; the sink sending it too
// made two records of one bad event, with different keys. The sink sends
// only the clicks and commissions it cannot decode (keyed by the full
// topic name) and counts every reject in aff_sink_rejected_total.
func TestDLQOnlyForTopicsTheSinkAloneReads(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	_, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 1)
	bad := []kafka.Message{{Key: []byte("k"), Value: []byte(`{"v":1,"event_id":"bad"}`)}}
	for _, topic := range []string{"clicks", "orders", "identities", "commissions"} {
		produce(t, brokers, prefix+topic, bad)
	}
	set := metrics.NewSet()
	startSink(t, sink.Config{Metrics: set, Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(),
		ClickHouseDB: db, PostgresURL: env.PostgresURL(t), BatchRows: 100, BatchWait: 100 * time.Millisecond})
	waitFor(t, 60*time.Second, "every reject counted", func() (bool, string) {
		n := uint64(0)
		for _, topic := range []string{"clicks", "orders", "identities", "commissions"} {
			n += set.GetOrCreateCounter(`aff_sink_rejected_total{topic="` + prefix + topic + `"}`).Get()
		}
		return n == 4, fmt.Sprint(n)
	})
	got := map[string]string{} // key by record topic
	for p := range 3 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: prefix + "dlq", Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			d, err := events.DecodeDLQRecord(m.Value)
			if err != nil {
				t.Fatalf("dlq record does not decode: %v", err)
			}
			got[d.Topic] = string(m.Key)
		}
		r.Close()
	}
	want := map[string]string{prefix + "clicks": prefix + "clicks", prefix + "commissions": prefix + "commissions"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dlq records (topic: key) = %v, want %v", got, want)
	}
}
