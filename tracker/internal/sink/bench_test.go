package sink_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
	"github.com/segmentio/kafka-go"
)

// benchClicks is M, the clicks produced per run (AFF_SINK_BENCH_CLICKS).
func benchClicks(b *testing.B) int {
	n := 1_000_000
	if v := os.Getenv("AFF_SINK_BENCH_CLICKS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("AFF_SINK_BENCH_CLICKS=%q: want a positive integer", v)
		}
	}
	return n
}

// benchBatchRows is the sink's -batch-rows in the benchmark
// (AFF_SINK_BENCH_BATCH_ROWS, default 200000 like the binary).
func benchBatchRows(b *testing.B) int {
	v := os.Getenv("AFF_SINK_BENCH_BATCH_ROWS")
	if v == "" {
		return 200_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("AFF_SINK_BENCH_BATCH_ROWS=%q: want a positive integer", v)
	}
	return n
}

// produceClicks writes m realistic clicks (about 400 bytes each) to topic.
func produceClicks(b *testing.B, brokers []string, topic string, m int) {
	b.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireOne,
		BatchTimeout: 10 * time.Millisecond, BatchSize: 20_000, BatchBytes: 32 << 20, Compression: kafka.Lz4, MaxAttempts: 20,
	}
	defer w.Close()
	base := time.Now().UTC().Add(-time.Hour)
	msgs := make([]kafka.Message, 0, 20_000)
	for i := range m {
		c := events.Click{
			ClickID: events.NewID(), At: base.Add(time.Duration(i) * time.Microsecond), DeviceToken: fmt.Sprintf("dev-%07d.sig0123456789abcdef", i%500_000),
			PartnerID: strconv.Itoa(i % 1000), LinkID: strconv.Itoa(i % 20_000), Kind: events.KindLink,
			Target: "https://shop.example/products/blue-shirt?size=m", ProductID: "sku-" + strconv.Itoa(i%5000),
			Referer:   "https://instagram.com/",
			UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
			IP:        netip.MustParseAddr("203.0.113.0"), Bot: i%20 == 0,
		}
		msgs = append(msgs, kafka.Message{Key: []byte(c.DeviceToken), Value: events.AppendClick(nil, &c)})
		if len(msgs) == cap(msgs) || i == m-1 {
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				b.Fatalf("produce: %v", err)
			}
			msgs = msgs[:0]
		}
	}
}

// BenchmarkSinkThroughput produces M clicks into the broker, then measures
// sustained clicks/s into ClickHouse with one sink (from its first inserted
// row to the last, so the group join is not counted). The baseline reads
// the same topic with a bare kafka-go group reader (no decode, no insert):
// the sink cannot beat it. Run with -benchtime=1x:
//
//	cd tracker && go test -run '^$' -bench SinkThroughput -benchtime 1x ./internal/sink/
func BenchmarkSinkThroughput(b *testing.B) {
	env := testenv.Get(b)
	brokers := env.KafkaBrokers()
	m := benchClicks(b)

	b.Run("baseline=kafka-read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			prefix := env.TopicPrefix(b)
			createTopics(b, brokers, prefix, 4)
			produceClicks(b, brokers, prefix+"clicks", m)
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: prefix + "bench", GroupTopics: []string{prefix + "clicks"},
				MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 10_000, StartOffset: kafka.FirstOffset})
			b.StartTimer()
			var start time.Time
			for i := range m {
				if _, err := r.FetchMessage(context.Background()); err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					start = time.Now()
				}
			}
			b.ReportMetric(float64(m-1)/time.Since(start).Seconds(), "clicks/s")
			b.StopTimer()
			r.Close()
			b.StartTimer()
		}
	})

	for _, parallel := range []int{1, 2} {
		b.Run(fmt.Sprintf("sink/insert-parallelism=%d", parallel), func(b *testing.B) { benchSink(b, env, brokers, m, parallel) })
	}
}

func benchSink(b *testing.B, env *testenv.Env, brokers []string, m, parallel int) {
	{
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			prefix := env.TopicPrefix(b)
			createTopics(b, brokers, prefix, 4)
			_, db := clickhouseDB(b, env.ClickHouseAddr())
			produceClicks(b, brokers, prefix+"clicks", m)
			set := metrics.NewSet()
			rows := set.GetOrCreateCounter(`aff_sink_rows_total{table="clicks"}`)
			read := set.GetOrCreateCounter(`aff_sink_read_messages_total`)
			sink.DefaultGC() // as `tracker sink` does
			b.StartTimer()
			cpu0 := testenv.ProcessCPU(b)
			stop := startSink(b, sink.Config{Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(),
				ClickHouseDB: db, PostgresURL: env.PostgresURL(b), Metrics: set, WatermarkInterval: time.Minute, InsertParallelism: parallel, BatchRows: benchBatchRows(b)})
			var start, firstRead time.Time
			var first uint64
			var peakHeap uint64
			var ms runtime.MemStats
			deadline := time.Now().Add(10 * time.Minute)
			for i := 0; rows.Get() < uint64(m); i++ {
				if firstRead.IsZero() && read.Get() > 0 {
					firstRead = time.Now()
				}
				if n := rows.Get(); n > 0 && start.IsZero() {
					start, first = time.Now(), n
				}
				if i%20 == 0 { // every ~100 ms: ReadMemStats stops the world
					runtime.ReadMemStats(&ms)
					peakHeap = max(peakHeap, ms.HeapInuse)
				}
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d clicks in ClickHouse after 10 minutes", rows.Get(), m)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if start.IsZero() || uint64(m) == first {
				b.Fatalf("the first batch held every click: raise AFF_SINK_BENCH_CLICKS to measure a rate")
			}
			b.ReportMetric(float64(uint64(m)-first)/time.Since(start).Seconds(), "clicks/s")
			// Stricter: every click, from the first one the sink read (the
			// first batch's fill and insert included) to the last.
			b.ReportMetric(float64(m)/time.Since(firstRead).Seconds(), "whole-run-clicks/s")
			// All of the sink's CPU, from its start (group join, decoding
			// ahead of the first insert) to the last row in ClickHouse.
			b.ReportMetric(float64((testenv.ProcessCPU(b)-cpu0).Nanoseconds())/1e3/float64(m), "sink-cpu-µs/click")
			b.ReportMetric(float64(peakHeap)/1e6, "peak-heap-MB")
			b.StopTimer()
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			var sb strings.Builder
			set.WritePrometheus(&sb)
			for _, line := range strings.Split(sb.String(), "\n") {
				if strings.Contains(line, "_sum") || strings.Contains(line, "_count") {
					b.Log(line)
				}
			}
			b.StartTimer()
		}
	}
}
