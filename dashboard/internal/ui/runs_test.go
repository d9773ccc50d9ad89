package ui

import (
	"strings"
	"testing"
)

// TestRunListFilters: the relay job records a run every few seconds, so a
// failed settle run was pages back within minutes on the runs page; the
// page filters by job and by failed runs.
func TestRunListFilters(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	f.exec(`INSERT INTO settlement_runs (job, host, started_at, finished_at, counts, error) VALUES
		('settle', 'h1', now() - interval '10 minutes', now() - interval '10 minutes', '{}', 'cannot settle orders: boom-settle'),
		('settle', 'h1', now() - interval '9 minutes', now() - interval '9 minutes', '{"orders": 3}', NULL),
		('relay_outbox', 'h1', now() - interval '8 minutes', now() - interval '8 minutes', '{}', 'cannot publish: boom-relay')`)
	f.exec(`INSERT INTO settlement_runs (job, host, started_at, finished_at, counts)
		SELECT 'relay_outbox', 'h2', now() - g * interval '5 seconds', now() - g * interval '5 seconds', '{"published": 0}'
		FROM generate_series(1, 120) g`)
	has := func(path string, want, not []string) {
		t.Helper()
		st, body, _ := adm.get(path)
		if st != 200 {
			t.Fatalf("GET %s = %d: %s", path, st, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
		for _, n := range not {
			if strings.Contains(body, n) {
				t.Errorf("GET %s shows %q", path, n)
			}
		}
	}
	has("/admin/runs", []string{"relay_outbox"}, []string{"boom-settle"}) // 120 relay runs first
	has("/admin/runs?job=settle", []string{"boom-settle", "orders: 3"}, []string{"boom-relay", "published"})
	has("/admin/runs?failed=1", []string{"boom-settle", "boom-relay"}, []string{"orders: 3", "published"})
	has("/admin/runs?job=settle&failed=1", []string{"boom-settle", `<option selected>settle</option>`, "checked"}, []string{"boom-relay", "orders: 3"})
	has("/admin/runs?job=release_reserves", []string{"No such runs."}, nil)
	if st, body, _ := adm.get("/admin/runs?job=nope"); st != 400 || !strings.Contains(body, "job") {
		t.Errorf("GET /admin/runs?job=nope = %d %q, want 400 naming job", st, body)
	}
}

// TestOrderPageShowsWatermarkForced: an order decided after the settler's
// maximum wait, before every click reached ClickHouse, says so on its page
// and in the list, and the list can show those alone.
func TestOrderPageShowsWatermarkForced(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	pid := f.partner("ayla")
	f.seedOrder("o-forced", pid, 100)
	f.seedOrder("o-waited", pid, 100)
	f.exec(`UPDATE attributions SET watermark_forced = true WHERE order_id = 'o-forced'`)
	if _, page, _ := adm.get("/admin/orders/o-waited"); strings.Contains(page, `id="watermark-forced"`) {
		t.Error("an order decided in time shows the note")
	}
	if s, page, _ := adm.get("/admin/orders/o-forced"); s != 200 || !strings.Contains(page, `id="watermark-forced"`) {
		t.Errorf("order page of a forced decision: %d, no note", s)
	}
	if _, page, _ := adm.get("/admin/orders?forced=1"); !strings.Contains(page, "o-forced") || strings.Contains(page, "o-waited") || !strings.Contains(page, "checked") {
		t.Errorf("/admin/orders?forced=1 does not list o-forced alone:\n%s", page)
	}
	if _, page, _ := adm.get("/admin/orders"); !strings.Contains(page, "o-waited") || !strings.Contains(page, ">forced</span>") {
		t.Errorf("/admin/orders lacks o-waited or the forced mark")
	}
}
