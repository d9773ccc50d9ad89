package producer

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/links"
)

// The unit tests need no services; the benchmark starts a broker (Apache
// Kafka unless AFF_TEST_KAFKA=kfake) when it runs.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// BenchmarkDeliverClicks writes a sender's batch of 4096 clicks to a real
// broker (topic of 4 partitions, snappy, acks=all), through kafka-go's
// Writer and through the raw path, and reports the tracker process's CPU
// per click (with an Apache broker, the broker's own CPU is not counted).
//
//	cd tracker && go test -run '^$' -bench DeliverClicks -benchtime 200x ./internal/producer/
func BenchmarkDeliverClicks(b *testing.B) {
	env := testenv.Get(b)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(b)
	topic := prefix + "clicks"
	if err := kafkatopic.Create(context.Background(), brokers, []string{topic}, kafkatopic.Spec{Partitions: 4}); err != nil {
		b.Fatal(err)
	}
	bots, err := click.NewBotDetector(100)
	if err != nil {
		b.Fatal(err)
	}
	enc := &click.Encoder{Bots: bots, Repeats: click.NewRepeatTracker(time.Hour, 1<<16)}
	entry := &links.Entry{LinkID: "10", PartnerID: "1", Kind: "link", Target: "https://shop.example/p/42?ref=x", Attribute: true}
	var msgs []kafka.Message
	for range 4096 {
		r := click.Get()
		r.At, r.Entry, r.IP = time.Now(), entry, netip.MustParseAddr("192.0.2.1")
		var raw [24]byte
		rand.Read(raw[:])
		copy(r.Token[:], fmt.Sprintf("%x", raw))
		r.UserAgent = append(r.UserAgent[:0], "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"...)
		r.Referer = append(r.Referer[:0], "https://blog.example/post?id=1"...)
		key := append([]byte(nil), r.Token[:]...)
		msgs = append(msgs, kafka.Message{Topic: topic, Key: key, Value: enc.Append(nil, r)})
	}
	for _, mode := range []string{"writer", "raw"} {
		b.Run(mode, func(b *testing.B) {
			sp := openSpool(b)
			p := New(Options{
				Brokers: brokers, ClicksTopic: topic, Spool: sp, Encoder: enc,
				QueueSize: 1, BatchSize: len(msgs), PartitionBatch: DefaultPartitionBatch, BatchWait: time.Millisecond,
				WriteTimeout: 10 * time.Second, SyncInterval: time.Second, ReplayInterval: time.Hour,
				Compression: kafka.Snappy, RawClicks: mode == "raw",
				Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(metrics.NewSet()),
			})
			defer p.Close(context.Background())
			deliver := func() {
				if n, _, err := p.deliverClickMsgs(msgs); n != 0 || err != nil {
					b.Fatalf("%d clicks spooled, %v", n, err)
				}
			}
			deliver() // connections, metadata
			cpu0 := testenv.ProcessCPU(b)
			for b.Loop() {
				deliver()
			}
			clicks := float64(b.N * len(msgs))
			b.ReportMetric(float64((testenv.ProcessCPU(b)-cpu0).Microseconds())/clicks, "cpu-µs/click")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/clicks, "ns/click")
			if f := p.opts.Metrics.RawFallbacks.Get(); f != 0 {
				b.Fatalf("%d clicks fell back to the Writer", f)
			}
		})
	}
}
