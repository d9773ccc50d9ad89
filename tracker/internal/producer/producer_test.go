package producer

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/links"
	"github.com/openaff/affiliate/tracker/internal/spool"
)

// openSpool opens a spool in a temporary directory, closed when tb ends.
func openSpool(tb testing.TB) *spool.Spool {
	tb.Helper()
	sp, err := spool.Open(tb.TempDir(), 1<<30, 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sp.Close() })
	return sp
}

// With no broker at all, every click and event must end up in the spool:
// through the sender's fallback, the handlers' queue-full path, and the
// drain on Close. (Delivery to a real broker is tested in package serve.)
func TestEverythingSpooledWithoutKafka(t *testing.T) {
	sp := openSpool(t)
	bots, err := click.NewBotDetector(100)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(metrics.NewSet())
	p := New(Options{
		Brokers: []string{"127.0.0.1:1"}, ClicksTopic: "t.clicks", Spool: sp,
		Encoder:   &click.Encoder{Bots: bots, Repeats: click.NewRepeatTracker(time.Hour, 1000)},
		QueueSize: 4, BatchSize: 16, BatchWait: time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		SyncInterval: 10 * time.Millisecond, ReplayInterval: time.Hour, Logger: slog.New(slog.DiscardHandler), Metrics: m,
	})
	entry := &links.Entry{LinkID: "1", PartnerID: "2", Kind: "link", Target: "https://shop.example/", Attribute: true}
	const n = 500
	for i := 0; i < n; i++ {
		r := click.Get()
		r.At, r.Entry, r.IP = time.Now(), entry, netip.MustParseAddr("192.0.2.1")
		copy(r.Token[:], "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB")
		p.Offer(r) // never blocks, even with a queue of 4 and no Kafka
	}
	if err := p.Send([]kafka.Message{{Topic: "t.orders", Key: []byte("A-1"), Value: []byte(`{}`)}}); err != nil {
		t.Fatalf("Send without Kafka = %v, want nil (spooled and fsynced)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.Close(ctx)
	sp.Close()

	clicks, orders := 0, 0
	for {
		path, ok, err := sp.Oldest()
		if err != nil || !ok {
			break
		}
		skipped, err := spool.ReadSegment(path, func(r spool.Record) error {
			switch r.Topic {
			case "t.clicks":
				if _, err := events.DecodeClick(r.Value); err != nil {
					t.Fatalf("spooled click %s: %v", r.Value, err)
				}
				clicks++
			case "t.orders":
				orders++
			}
			return nil
		})
		if err != nil || skipped != 0 {
			t.Fatalf("ReadSegment: %v, skipped %d", err, skipped)
		}
		sp.Remove(path)
	}
	if clicks != n || orders != 1 {
		t.Fatalf("spool holds %d clicks and %d orders, want %d and 1", clicks, orders, n)
	}
	if m.ClicksLost.Get() != 0 || m.QueueFull.Get() == 0 || m.ClicksSpooled.Get() != n {
		t.Fatalf("metrics: lost %d, queue full %d, spooled %d", m.ClicksLost.Get(), m.QueueFull.Get(), m.ClicksSpooled.Get())
	}
}

// The Kafka writers batch at most PartitionBatch messages per partition
// (DefaultPartitionBatch when unset), whatever the sender's BatchSize:
// kafka-go allocates that many per partition a write touches.
func TestPartitionBatch(t *testing.T) {
	for _, c := range []struct{ set, want int }{{0, DefaultPartitionBatch}, {7, 7}} {
		sp := openSpool(t)
		p := New(Options{
			Brokers: []string{"127.0.0.1:1"}, ClicksTopic: "t.clicks", Spool: sp, Encoder: &click.Encoder{},
			QueueSize: 4, BatchSize: 10000, PartitionBatch: c.set, BatchWait: time.Millisecond, WriteTimeout: 200 * time.Millisecond,
			SyncInterval: 10 * time.Millisecond, ReplayInterval: time.Hour, Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(metrics.NewSet()),
		})
		if p.clicks.BatchSize != c.want || p.events.BatchSize != c.want {
			t.Errorf("PartitionBatch %d: writers batch %d clicks, %d events; want %d", c.set, p.clicks.BatchSize, p.events.BatchSize, c.want)
		}
		p.Close(context.Background())
	}
}

// The sender gathers clicks into one batch until BatchWait has passed since
// the batch's first click, or until it holds BatchSize clicks, whichever
// comes first; it takes what queued in ticks, so clicks offered during the
// wait join the batch.
func TestSenderBatches(t *testing.T) {
	sp := openSpool(t)
	m := NewMetrics(metrics.NewSet())
	const wait = 500 * time.Millisecond
	p := New(Options{
		Brokers: []string{"127.0.0.1:1"}, ClicksTopic: "t.clicks", Spool: sp,
		Encoder:   &click.Encoder{Repeats: click.NewRepeatTracker(time.Hour, 1000)},
		QueueSize: 1000, BatchSize: 100, BatchWait: wait, WriteTimeout: 200 * time.Millisecond,
		SyncInterval: 10 * time.Millisecond, ReplayInterval: time.Hour, Logger: slog.New(slog.DiscardHandler), Metrics: m,
	})
	defer p.Close(context.Background())
	entry := &links.Entry{LinkID: "1", PartnerID: "2", Kind: "link", Target: "https://shop.example/", Attribute: true}
	offer := func(n int, every time.Duration) {
		for i := 0; i < n; i++ {
			r := click.Get()
			r.At, r.Entry, r.IP = time.Now(), entry, netip.MustParseAddr("192.0.2.1")
			copy(r.Token[:], "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB")
			p.Offer(r)
			time.Sleep(every)
		}
	}
	waitFor := func(batches, clicks int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if int(m.ClickBatches.Get()) >= batches && int(m.ClicksSpooled.Get()+m.ClicksProduced.Get()) >= clicks {
				break
			}
		}
		if b, c := m.ClickBatches.Get(), m.ClicksSpooled.Get()+m.ClicksProduced.Get(); int(b) != batches || int(c) != clicks {
			t.Fatalf("%d batches of %d clicks in all, want %d batches of %d", b, c, batches, clicks)
		}
	}

	start := time.Now()
	offer(1, 50*time.Millisecond)
	offer(9, 0) // while the sender waits for more
	if b := m.ClickBatches.Get(); b != 0 && time.Since(start) < wait/2 {
		t.Fatalf("%d batches sent %v after the first click, before BatchWait (%v)", b, time.Since(start), wait)
	}
	waitFor(1, 10)
	if d := time.Since(start); d < wait {
		t.Fatalf("the batch went %v after its first click, before BatchWait (%v)", d, wait)
	}

	offer(250, 0) // BatchSize 100: two full batches at once, the rest after BatchWait
	waitFor(4, 260)
	if m.ClicksLost.Get() != 0 || m.QueueFull.Get() != 0 {
		t.Fatalf("lost %d, queue full %d", m.ClicksLost.Get(), m.QueueFull.Get())
	}
}
