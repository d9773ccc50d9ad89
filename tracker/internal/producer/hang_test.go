package producer

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/links"
)

// A broker that hangs (stopped with SIGSTOP: connections open, no answers)
// sends a click batch to the spool after one WriteTimeout, for both
// producers: the raw path and the Writer it falls back to share the
// timeout rather than take one each.
func TestBrokerHangSpoolsWithinOneTimeout(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Apache)
	const topic = "hang.clicks"
	if err := kafkatopic.Create(context.Background(), k.Brokers(), []string{topic}, kafkatopic.Spec{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	entry := &links.Entry{LinkID: "1", PartnerID: "2", Kind: "link", Target: "https://shop.example/", Attribute: true}
	offer := func(p *Producer) time.Time {
		r := click.Get()
		at := time.Now()
		r.At, r.Entry, r.IP = at, entry, netip.MustParseAddr("192.0.2.1")
		copy(r.Token[:], "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB")
		p.Offer(r)
		return at
	}
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s: not after 20 s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	const timeout = time.Second
	for _, mode := range []string{"raw", "writer"} {
		t.Run(mode, func(t *testing.T) {
			sp := openSpool(t)
			m := NewMetrics(metrics.NewSet())
			p := New(Options{
				Brokers: k.Brokers(), ClicksTopic: topic, Spool: sp, RawClicks: mode == "raw",
				Encoder:   &click.Encoder{Repeats: click.NewRepeatTracker(time.Hour, 1000)},
				QueueSize: 16, BatchSize: 16, BatchWait: time.Millisecond, WriteTimeout: timeout,
				SyncInterval: 10 * time.Millisecond, ReplayInterval: time.Hour,
				Logger: slog.New(slog.DiscardHandler), Metrics: m,
			})
			// A first click reaches the broker: metadata and connections are up.
			offer(p)
			waitFor("first click produced", func() bool { return m.ClicksProduced.Get() == 1 })

			waitFor("nothing pending once produced", func() bool { return p.OldestPending().IsZero() })
			k.Pause()
			at := offer(p)
			// While the write hangs, the click is neither in Kafka nor in the
			// spool: the producer reports it (tracker_spools, with the spool).
			waitFor("the hung click reported pending", func() bool { return p.OldestPending().Equal(at) })
			waitFor("click spooled while the broker hangs", func() bool { return m.ClicksSpooled.Get() == 1 })
			took := time.Since(at)
			waitFor("nothing pending once spooled", func() bool { return p.OldestPending().IsZero() })
			k.Resume()
			if took < timeout || took > timeout*19/10 {
				t.Errorf("the click was spooled %v after it was offered; want one WriteTimeout (%v), not two", took, timeout)
			}
			if m.ClicksProduced.Get() != 1 || m.ClicksLost.Get() != 0 {
				t.Errorf("produced %d, lost %d; want 1 and 0", m.ClicksProduced.Get(), m.ClicksLost.Get())
			}
			p.Close(context.Background())
		})
	}
}
