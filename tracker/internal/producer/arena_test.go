package producer

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/links"
)

// A click batch whose write timed out is still kafka-go's: its partition
// writer goes on retrying it after WriteMessages returned, reading the
// messages' keys and values, so the sender must not encode new clicks into
// that memory. The broker hangs (SIGSTOP) so that the first attempt times
// out; a second batch, queued meanwhile, is encoded as soon as the first is
// spooled, before kafka-go's retry (50 ms after the timeout) reads the
// first batch again; then the broker resumes and takes that retry. Every
// record in the topic must be a whole click under its own device token.
// Before, the retry carried the second batch's bytes cut at the first
// batch's offsets: records that are not JSON, keys that are not tokens (and,
// under -race, a reported data race).
func TestTimedOutBatchKeepsItsMemory(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Apache)
	const topic = "arena.clicks"
	createTopic(t, k.Brokers(), topic, 1<<20)
	m := NewMetrics(metrics.NewSet())
	const timeout = time.Second
	p := New(Options{
		Brokers: k.Brokers(), ClicksTopic: topic, Spool: openSpool(t),
		Encoder:   testEncoder(t),
		QueueSize: 1024, BatchSize: 1024, BatchWait: time.Millisecond, WriteTimeout: timeout,
		SyncInterval: 10 * time.Millisecond, ReplayInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Metrics: m,
	})
	defer p.Close(context.Background())
	entry := &links.Entry{LinkID: "1", PartnerID: "2", Kind: "link", Target: "https://shop.example/", Attribute: true}
	want := map[string]bool{} // device tokens
	offer := func(batch byte, n, uaBytes int) {
		for i := range n {
			r := click.Get()
			r.At, r.Entry, r.IP = time.Now(), entry, netip.MustParseAddr("192.0.2.1")
			tok := fmt.Sprintf("%c%021d.%s", batch, i, strings.Repeat("B", 22))
			copy(r.Token[:], tok)
			want[tok] = true
			// One user agent per batch: its bot verdict is cached, so the
			// sender encodes a batch in well under kafka-go's 50 ms backoff,
			// -race or not.
			click.SetBytes(&r.UserAgent, []byte(strings.Repeat("x", uaBytes)), click.MaxUserAgentBytes)
			p.Offer(r)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s: not after 20 s", what)
			}
		}
	}

	offer('w', 1, 20) // metadata and a connection
	waitFor("first click produced", func() bool { return m.ClicksProduced.Get() == 1 })
	k.Pause()
	offer('1', 300, 100)
	waitFor("first batch taken", func() bool { return len(p.queue) == 0 })
	time.Sleep(100 * time.Millisecond)
	offer('2', 300, 117) // other lengths: the first batch's offsets cut it mid-record
	waitFor("both batches spooled", func() bool { return m.ClicksSpooled.Get() == 600 })
	time.Sleep(300 * time.Millisecond) // kafka-go's retry of the first batch is written to the hung broker
	k.Resume()

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers(), GroupID: "test-" + uuid.NewString(),
		Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	seen := map[string]bool{}
	records := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		if len(seen) == len(want) {
			// Everything arrived (from the spool); give a late retry time to land.
			if late := time.Now().Add(3 * time.Second); late.Before(deadline) {
				deadline = late
			}
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		msg, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			break
		}
		records++
		c, err := events.DecodeClick(msg.Value)
		if err != nil {
			t.Fatalf("record %d (key %q) is not a click: %v: %.80q", records, msg.Key, err, msg.Value)
		}
		if c.DeviceToken != string(msg.Key) || !want[c.DeviceToken] {
			t.Fatalf("record %d: key %q, click of device %q", records, msg.Key, c.DeviceToken)
		}
		seen[c.DeviceToken] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("%d of %d clicks arrived (%d records)", len(seen), len(want), records)
	}
	t.Logf("%d records for %d clicks", records, len(want))
}
