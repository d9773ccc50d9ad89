package serve

import (
	"context"
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
