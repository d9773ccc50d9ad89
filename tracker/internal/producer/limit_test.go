package producer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/links"
	"github.com/openaff/affiliate/tracker/internal/spool"
)

// createTopic creates topic with one partition and the given
// max.message.bytes, and waits until it has a leader.
func createTopic(t testing.TB, brokers []string, topic string, maxMessageBytes int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxMessageBytes)}},
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := kafkatopic.Ensure(ctx, brokers, []string{topic}); err != nil {
		t.Fatal(err)
	}
}

// testEncoder returns a click encoder with a bot detector (needed for
// clicks with a user agent).
func testEncoder(t testing.TB) *click.Encoder {
	t.Helper()
	bots, err := click.NewBotDetector(100)
	if err != nil {
		t.Fatal(err)
	}
	return &click.Encoder{Bots: bots, Repeats: click.NewRepeatTracker(time.Hour, 1000)}
}

// noise returns n random base64url characters: text that compresses
// poorly, as long user agents and referers full of tracking ids do.
func noise(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// readTopic reads topic from the first offset and calls fn for every
// message until fn returns true; it fails t after 30 s.
func readTopic(t testing.TB, brokers []string, topic string, fn func(kafka.Message) bool) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "test-" + uuid.NewString(),
		Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, MaxBytes: 8 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		if fn(m) {
			return
		}
	}
}

// lastOffset returns the end offset of partition 0 of topic.
func lastOffset(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	off, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// A batch of clicks far over the topic's max.message.bytes (1 MiB, what
// deploy/kafka/topics.sh sets for clicks) goes to Kafka directly, in produce
// requests under the limit, through either producer; so do shop events
// whose request is over the limit. Before, the Writer built requests of up
// to 16 MiB: the broker refused them for good and they sat in the spool.
func TestBatchesFitTopicLimit(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	for _, mode := range []string{"writer", "raw"} {
		t.Run(mode, func(t *testing.T) {
			clicks, orders := prefix+mode+".clicks", prefix+mode+".orders"
			createTopic(t, brokers, clicks, 1<<20)
			createTopic(t, brokers, orders, 1<<20)
			m := NewMetrics(metrics.NewSet())
			p := New(Options{
				Brokers: brokers, ClicksTopic: clicks, Spool: openSpool(t), RawClicks: mode == "raw",
				Encoder:   testEncoder(t),
				QueueSize: 4096, BatchSize: 4096, BatchWait: 200 * time.Millisecond, WriteTimeout: 10 * time.Second,
				SyncInterval: 10 * time.Millisecond, ReplayInterval: time.Hour, Compression: kafka.Snappy,
				Logger: slog.New(slog.DiscardHandler), Metrics: m,
			})
			defer p.Close(context.Background())
			entry := &links.Entry{LinkID: "1", PartnerID: "2", Kind: "slug", Target: "https://shop.example/", Attribute: true}
			// ~4.5 KB a click, ~3 KB after snappy: a partition batch of
			// 1024 clicks is ~3 MB. (Few user agents: the bot check of a
			// new one takes milliseconds.)
			const n = 1500
			var uas []string
			for range 8 {
				uas = append(uas, "Mozilla/5.0 "+noise(500))
			}
			for i := range n {
				r := click.Get()
				r.At, r.Entry, r.IP = time.Now(), entry, netip.MustParseAddr("192.0.2.1")
				copy(r.Token[:], fmt.Sprintf("%022d.%s", i, noise(22)))
				click.SetBytes(&r.UserAgent, []byte(uas[i%len(uas)]), click.MaxUserAgentBytes)
				click.SetBytes(&r.Referer, []byte("https://blog.example/?"+noise(2000)), click.MaxRefererBytes)
				click.SetBytes(&r.Target, []byte("https://shop.example/p?"+noise(2000)), click.MaxTargetBytes)
				p.Offer(r)
			}
			for start := time.Now(); m.ClicksProduced.Get()+m.ClicksSpooled.Get() < n; time.Sleep(10 * time.Millisecond) {
				if time.Since(start) > time.Minute {
					t.Fatalf("after a minute: %d clicks produced, %d spooled, of %d", m.ClicksProduced.Get(), m.ClicksSpooled.Get(), n)
				}
			}
			if m.ClicksSpooled.Get() != 0 || m.ClicksLost.Get() != 0 {
				t.Fatalf("%d of %d clicks spooled, %d lost; want every click produced (kafka errors %d)",
					m.ClicksSpooled.Get(), n, m.ClicksLost.Get(), m.KafkaErrors.Get())
			}
			// 300 events of 4 KB in one Send: 1.2 MB.
			var msgs []kafka.Message
			for i := range 300 {
				msgs = append(msgs, kafka.Message{Topic: orders, Key: []byte("A-" + strconv.Itoa(i)), Value: []byte(`{"x":"` + noise(4000) + `"}`)})
			}
			if err := p.Send(msgs); err != nil {
				t.Fatal(err)
			}
			if m.EventsSpooled.Get() != 0 || m.EventsProduced.Get() != uint64(len(msgs)) {
				t.Fatalf("Send: %d events spooled, %d produced; want all %d produced", m.EventsSpooled.Get(), m.EventsProduced.Get(), len(msgs))
			}
			for topic, want := range map[string]int64{clicks: n, orders: int64(len(msgs))} {
				if got := lastOffset(t, brokers, topic); got != want {
					t.Fatalf("%s ends at offset %d, want %d", topic, got, want)
				}
			}
		})
	}
}

// The spool replay delivers records past one the broker refuses for good,
// which it moves to the quarantine file, and gets a long run of records
// over a topic whose max.message.bytes is far below the producer's request
// size through by splitting the writes. Before, the replay rebuilt the
// same refused batch every tick and the spool (and all traffic behind it)
// never moved again.
func TestReplayQuarantinesRefusedRecords(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	topic := prefix + "small.orders"
	const limit = 64 << 10
	createTopic(t, brokers, topic, limit)

	sp := openSpool(t)
	var want []string // ids of the records that must arrive, in spool order
	rec := func(id string, valueBytes int) spool.Record {
		return spool.Record{Topic: topic, Key: []byte(id), Value: []byte(`{"id":"` + id + `","x":"` + noise(valueBytes) + `"}`)}
	}
	var recs []spool.Record
	for i := range 300 { // ~600 KB of 2 KB records: ten times the topic's limit
		recs = append(recs, rec(fmt.Sprintf("a%03d", i), 2000))
		want = append(want, fmt.Sprintf("a%03d", i))
	}
	recs = append(recs, rec("big-broker", 100<<10)) // over the topic's limit
	recs = append(recs, rec("big-writer", 2<<20))   // over the producer's request limit
	for i := range 100 {
		recs = append(recs, rec(fmt.Sprintf("b%03d", i), 2000))
		want = append(want, fmt.Sprintf("b%03d", i))
	}
	for _, r := range recs {
		if err := sp.Append(r); err != nil {
			t.Fatal(err)
		}
	}

	m := NewMetrics(metrics.NewSet())
	p := New(Options{
		Brokers: brokers, ClicksTopic: prefix + "small.clicks", Spool: sp, Encoder: &click.Encoder{},
		QueueSize: 16, BatchSize: 1000, BatchWait: time.Millisecond, WriteTimeout: 10 * time.Second,
		SyncInterval: 10 * time.Millisecond, ReplayInterval: 50 * time.Millisecond, Compression: kafka.Snappy,
		Logger: slog.New(slog.DiscardHandler), Metrics: m,
	})
	defer p.Close(context.Background())
	for start := time.Now(); !sp.Empty(); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("the spool still holds records after a minute (replayed %d, kafka errors %d)", m.Replayed.Get(), m.KafkaErrors.Get())
		}
	}

	seen := map[string]bool{}
	readTopic(t, brokers, topic, func(msg kafka.Message) bool {
		if !bytes.HasPrefix(msg.Value, []byte(`{"id":"`+string(msg.Key)+`"`)) {
			t.Fatalf("record %s has the value of another: %.40s", msg.Key, msg.Value)
		}
		seen[string(msg.Key)] = true
		return len(seen) == len(want)
	})
	for _, id := range want {
		if !seen[id] {
			t.Fatalf("record %s was not delivered", id)
		}
	}
	var quarantined []string
	if _, err := spool.ReadSegment(filepath.Join(sp.Dir(), spool.QuarantineName), func(r spool.Record) error {
		quarantined = append(quarantined, string(r.Key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(quarantined) != "[big-broker big-writer]" || m.Quarantined.Get() != 2 {
		t.Fatalf("quarantined %v (metric %d), want [big-broker big-writer] (2)", quarantined, m.Quarantined.Get())
	}
	if seen["big-broker"] || seen["big-writer"] {
		t.Fatal("a record over the limit was delivered")
	}
}

// TestMaxMessageBytesMatchesTheWriter: a message of exactly MaxMessageBytes
// is one kafka-go's Writer takes under that BatchBytes, one byte more it
// refuses (so /v1's 413 and the Writer agree on the overhead).
func TestMaxMessageBytesMatchesTheWriter(t *testing.T) {
	env := testenv.Get(t)
	brokers := env.KafkaBrokers()
	topic := env.TopicPrefix(t) + "limit"
	createTopic(t, brokers, topic, 1<<20)
	const batchBytes = 64 << 10
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchBytes: batchBytes, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond}
	defer w.Close()
	n := MaxMessageBytes(batchBytes)
	key := []byte("device-token")
	ok := kafka.Message{Key: key, Value: bytes.Repeat([]byte("x"), n-len(key))}
	if err := w.WriteMessages(context.Background(), ok); err != nil {
		t.Fatalf("message of MaxMessageBytes (%d): %v", n, err)
	}
	over := kafka.Message{Key: key, Value: bytes.Repeat([]byte("x"), n-len(key)+1)}
	if err := w.WriteMessages(context.Background(), over); err == nil {
		t.Fatalf("message of MaxMessageBytes+1 (%d) accepted: the overhead is overstated", n+1)
	}
}
