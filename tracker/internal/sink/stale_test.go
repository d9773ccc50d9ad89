package sink_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestStaleSpoolRowHoldsNothing: the previous release never deleted a
// tracker's tracker_spools row, so after an upgrade rows of trackers that no
// longer run (a recreated container, a retired pod) reported nothing spooled
// hours ago. Such a row held the clicks, identities and orders watermarks at
// its last report for good: every order waited the settler's maximum wait
// and was decided flagged. A row with nothing spooled (oldest_at NULL) and
// no report for -spool-report-stale (default 1h, the settler's default
// maximum wait) no longer holds and is named in the log and in
// aff_sink_spool_stale_rows; a row of 60 s (a tracker cut off from Postgres
// for a minute) still holds, and so does a stale row with spooled records.
func TestStaleSpoolRowHoldsNothing(t *testing.T) {
	const delay = 5 * time.Second
	t.Run("reported nothing", func(t *testing.T) {
		st := runWithSpoolRows(t, delay, `INSERT INTO tracker_spools (tracker_id, oldest_at, updated_at) VALUES
    ('gone-tracker', NULL, now() - interval '2 hours'),
    ('cut-off-tracker', NULL, now() - interval '60 seconds')`)
		gone, cutOff := st.reported["gone-tracker"], st.reported["cut-off-tracker"]
		for topic, wm := range st.wm {
			if !wm.After(gone) || wm.After(cutOff.Add(-delay)) {
				t.Errorf("%s watermark = %s, want after the stale row's report %s (2h ago) and at or below the 60 s old one's %s minus the %s delay",
					topic, wm, gone, cutOff, delay)
			}
		}
		if n := st.set.GetOrCreateGauge(`aff_sink_spool_stale_rows`, nil).Get(); n != 1 {
			t.Errorf("aff_sink_spool_stale_rows = %v, want 1", n)
		}
		// One line naming the stale row (once a minute), none the live one.
		var stale []string
		for _, line := range strings.Split(st.logs, "\n") {
			if strings.Contains(line, "-spool-report-stale") {
				stale = append(stale, line)
			}
		}
		if len(stale) != 1 || !strings.Contains(stale[0], "tracker_id=gone-tracker") || !strings.Contains(stale[0], "DELETE FROM tracker_spools") {
			t.Errorf("the sink's log names the stale row in %d lines, want once, with the DELETE to run:\n%s", len(stale), st.logs)
		}
	})
	t.Run("spooled", func(t *testing.T) {
		st := runWithSpoolRows(t, delay, `INSERT INTO tracker_spools (tracker_id, oldest_at, updated_at) VALUES
    ('dead-tracker', now() - interval '3 hours', now() - interval '2 hours')`)
		var oldest time.Time
		if err := st.pg.QueryRow(context.Background(), `SELECT oldest_at FROM tracker_spools`).Scan(&oldest); err != nil {
			t.Fatal(err)
		}
		for topic, wm := range st.wm {
			if wm.After(oldest.Add(-delay)) {
				t.Errorf("%s watermark = %s, want at or below the spooled record %s minus the %s delay", topic, wm, oldest, delay)
			}
		}
	})
}

// spoolRun is what runWithSpoolRows saw.
type spoolRun struct {
	pg       *pgx.Conn
	reported map[string]time.Time // updated_at by tracker_id
	wm       map[string]time.Time // the clicks, identities and orders watermarks
	set      *metrics.Set
	logs     string
}

// runWithSpoolRows runs a sink over empty topics on a database whose
// tracker_spools holds the rows insert adds, until the commissions
// watermark (held by no tracker) shows every topic was refreshed, and
// returns the other watermarks.
func runWithSpoolRows(t *testing.T, delay time.Duration, insert string) spoolRun {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	_, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 1)
	ctx := context.Background()
	pg := connectPG(t, pgURL)
	if _, err := pg.Exec(ctx, insert); err != nil {
		t.Fatal(err)
	}
	st := spoolRun{pg: pg, reported: map[string]time.Time{}, wm: map[string]time.Time{}, set: metrics.NewSet()}
	rows, err := pg.Query(ctx, `SELECT tracker_id, updated_at FROM tracker_spools`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		st.reported[id] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	began := time.Now().UTC()
	go func() {
		done <- sink.Run(sctx, sink.Config{Metrics: st.set,
			Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
			BatchRows: 100, BatchWait: 100 * time.Millisecond, WatermarkInterval: 200 * time.Millisecond, WatermarkDelay: delay,
			Logger: slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sink stop: %v", err)
			}
		}
	}
	defer stop()
	waitFor(t, 60*time.Second, "the commissions watermark past the start minus the delay", func() (bool, string) {
		wm := readWatermark(t, pgURL, "commissions")
		return wm.After(began.Add(-delay)), wm.String()
	})
	time.Sleep(time.Second) // more refreshes
	stop()
	for _, topic := range []string{"clicks", "identities", "orders"} {
		st.wm[topic] = readWatermark(t, pgURL, topic)
	}
	st.logs = logs.String()
	return st
}
