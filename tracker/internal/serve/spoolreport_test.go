package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/testenv"
)

// TestCleanStopDeletesSpoolRow: the sink holds the watermarks at a
// tracker's last report (oldest_at, or updated_at when NULL), so a row never
// updated again would hold them for good. A tracker stopped cleanly with
// nothing held deletes its row; one stopped with clicks still in its spool
// (Kafka unreachable) keeps its row, with their time, for the next process
// to replay.
func TestCleanStopDeletesSpoolRow(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	row := func(id string) (rows, withOldest int) {
		t.Helper()
		err := pg.QueryRow(ctx, `SELECT count(*), count(oldest_at) FROM tracker_spools WHERE tracker_id = $1`, id).Scan(&rows, &withOldest)
		if err != nil {
			t.Fatal(err)
		}
		return rows, withOldest
	}
	waitRow := func(id string, wantOldest int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			rows, withOldest := row(id)
			if rows == 1 && withOldest == wantOldest {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("tracker_spools %q: %d rows, %d with oldest_at; want 1, %d", id, rows, withOldest, wantOldest)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	ensureTopics(t, brokers, prefix, "clicks") // a write to a missing topic is spooled
	st := testSettings()
	st.TrackerID = "clean"
	tr := startTracker(t, pgURL, brokers, prefix, t.TempDir(), st)
	waitRow("clean", 0)
	if status, _, _, err := tr.get(t, "/r/abcd1234", nil); err != nil || status != 302 {
		t.Fatalf("GET /r/abcd1234 = %d, %v; want 302", status, err)
	}
	tr.stop(t)
	if rows, withOldest := row("clean"); rows != 0 {
		t.Fatalf("a tracker stopped cleanly with an empty spool left %d rows (%d with oldest_at) in tracker_spools, want 0", rows, withOldest)
	}

	// Kafka unreachable: the click is spooled on stop, and the row stays.
	st.TrackerID = "spooled"
	st.KafkaWriteTimeout = 500 * time.Millisecond
	down := startTracker(t, pgURL, []string{"127.0.0.1:1"}, prefix, t.TempDir(), st)
	if status, _, _, err := down.get(t, "/r/abcd1234", nil); err != nil || status != 302 {
		t.Fatalf("GET /r/abcd1234 with Kafka down = %d, %v; want 302", status, err)
	}
	waitRow("spooled", 1)
	down.stop(t)
	if rows, withOldest := row("spooled"); rows != 1 || withOldest != 1 {
		t.Fatalf("a tracker stopped with a spooled click: %d rows, %d with oldest_at in tracker_spools; want 1, 1", rows, withOldest)
	}
}

// TestUnreportedClicksMakeHealthzFail: a tracker whose last report said
// nothing spooled, then cut off from Postgres and Kafka, spools clicks the
// sink does not know of; after -spool-report-stale the sink's watermarks
// pass them. /healthz says how long it has held them unreported
// (spool_unreported_seconds, and the tracker_spool_unreported_seconds
// metric) and, with -unhealthy-unreported, answers 503 once that is
// reached, so that a load balancer takes the tracker out; a report naming
// the spooled clicks (oldest_at, which always holds) makes it healthy again.
func TestUnreportedClicksMakeHealthzFail(t *testing.T) {
	env := testenv.Get(t)
	pgURL := env.PostgresURL(t)
	seed(t, pgURL)
	st := testSettings()
	st.TrackerID = "cut-off"
	st.KafkaWriteTimeout = 300 * time.Millisecond
	st.SpoolReport = 100 * time.Millisecond
	st.UnhealthyUnreported = 2 * time.Second
	tr := startTracker(t, pgURL, []string{"127.0.0.1:1"}, env.TopicPrefix(t), t.TempDir(), st)
	type health struct {
		Status     string  `json:"status"`
		Unreported float64 `json:"spool_unreported_seconds"`
	}
	healthz := func() (int, health) {
		t.Helper()
		resp, err := http.Get("http://" + tr.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, h
	}
	waitHealth := func(what string, ok func(int, health) bool) (int, health) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, h := healthz()
			if ok(code, h) {
				return code, h
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz = %d %+v, waiting for %s", code, h, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Reporting, nothing held: 200 (degraded: Kafka is down).
	pgExec(t, pgURL, `DELETE FROM tracker_spools`)
	waitHealth("the first report", func(code int, h health) bool { return code == 200 && h.Unreported == 0 })
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the tracker never reported")
		}
		c, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			t.Fatal(err)
		}
		c.QueryRow(context.Background(), `SELECT count(*) FROM tracker_spools WHERE tracker_id = 'cut-off' AND oldest_at IS NULL`).Scan(&n)
		c.Close(context.Background())
		time.Sleep(50 * time.Millisecond)
	}
	// Cut off from Postgres (its reports fail), then a click is spooled.
	pgExec(t, pgURL, `ALTER TABLE tracker_spools RENAME TO tracker_spools_away`)
	time.Sleep(300 * time.Millisecond) // a report failed at least once
	if status, _, _, err := tr.get(t, "/r/abcd1234", nil); err != nil || status != 302 {
		t.Fatalf("GET /r/abcd1234 = %d, %v; want 302", status, err)
	}
	if code, h := healthz(); code != 200 || h.Unreported >= 2 {
		t.Errorf("/healthz right after the click = %d %+v, want 200 with spool_unreported_seconds < 2", code, h)
	}
	// Spooled once the Kafka write times out: from then on it counts.
	waitHealth("the spooled click counted", func(_ int, h health) bool { return h.Unreported > 0 })
	code, h := waitHealth("503 after -unhealthy-unreported", func(code int, _ health) bool { return code != 200 })
	if code != 503 || h.Status != "unhealthy" || h.Unreported < 2 {
		t.Errorf("/healthz = %d %+v, want 503, unhealthy, spool_unreported_seconds at least 2", code, h)
	}
	resp, err := http.Get("http://" + tr.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "tracker_spool_unreported_seconds ") {
		t.Errorf("/metrics has no tracker_spool_unreported_seconds")
	}
	// Postgres back: the report names the spooled click, which holds.
	pgExec(t, pgURL, `ALTER TABLE tracker_spools_away RENAME TO tracker_spools`)
	waitHealth("200 once a report names the spooled click", func(code int, h health) bool { return code == 200 && h.Unreported == 0 })
}
