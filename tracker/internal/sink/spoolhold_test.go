package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestWatermarkHeldBySilentTracker: a tracker last reported an empty spool
// (oldest_at NULL) 60 s ago, then lost Postgres. It may have spooled clicks
// since (Kafka lost too, visitors still reaching it), each newer than that
// report: the clicks, identities and orders watermarks stay at or below the
// report's time minus -watermark-delay (before, NULL held nothing and the
// watermark passed those clicks: their orders were decided without them,
// for good). The sink names the tracker in its log and in
// aff_sink_spool_hold_seconds; once an operator deletes the row of the
// retired tracker, the watermarks move on.
func TestWatermarkHeldBySilentTracker(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	_, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 1)
	ctx := context.Background()
	pg := connectPG(t, pgURL)
	var reported time.Time
	err := pg.QueryRow(ctx, `INSERT INTO tracker_spools (tracker_id, oldest_at, updated_at)
VALUES ('silent-tracker', NULL, now() - interval '60 seconds') RETURNING updated_at`).Scan(&reported)
	if err != nil {
		t.Fatal(err)
	}

	const delay = 5 * time.Second
	logs := &lockedBuffer{}
	set := metrics.NewSet()
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	began := time.Now().UTC()
	go func() {
		done <- sink.Run(sctx, sink.Config{Metrics: set,
			Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
			BatchRows: 100, BatchWait: 100 * time.Millisecond, WatermarkInterval: 200 * time.Millisecond, WatermarkDelay: delay,
			Logger: slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sink stop: %v", err)
		}
	}()

	// commissions, which no tracker produces to, comes last in a refresh:
	// once it is past the start, the other topics were refreshed too.
	waitFor(t, 60*time.Second, "the commissions watermark past the start minus the delay", func() (bool, string) {
		wm := readWatermark(t, pgURL, "commissions")
		return wm.After(began.Add(-delay)), wm.String()
	})
	time.Sleep(time.Second) // more refreshes
	limit := reported.Add(-delay)
	for _, topic := range []string{"clicks", "identities", "orders"} {
		if wm := readWatermark(t, pgURL, topic); wm.IsZero() || wm.After(limit) {
			t.Errorf("%s watermark = %s, want at or below the silent tracker's last report %s minus the %s delay (%s)",
				topic, wm, reported, delay, limit)
		}
	}
	if held := set.GetOrCreateGauge(`aff_sink_spool_hold_seconds`, nil).Get(); held < 60 {
		t.Errorf("aff_sink_spool_hold_seconds = %v, want at least 60", held)
	}
	if got := logs.String(); !strings.Contains(got, "silent-tracker") || !strings.Contains(got, "stopped reporting") {
		t.Errorf("the sink's log does not name the tracker holding the watermarks back:\n%s", got)
	}

	// The tracker is retired: the operator deletes its row.
	if _, err := pg.Exec(ctx, `DELETE FROM tracker_spools WHERE tracker_id = 'silent-tracker'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the clicks watermark past the start once the row is deleted", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return wm.After(began), fmt.Sprint(wm)
	})
}

// lockedBuffer is a bytes.Buffer safe for the sink's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
