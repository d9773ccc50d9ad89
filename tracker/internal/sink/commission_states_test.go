package sink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

// TestCommissionStatesBackfillOnce: the backfill of 00204 fills in the
// states of the facts stored before commission_states_mv existed, also when
// the view stored a newer fact's state first (the sink keeps inserting
// during an upgrade: a backfill skipped whenever commission_states had any
// row lost the history), and a second run — settler migrate after
// deploy/clickhouse/cluster/apply.sh, which runs every statement — adds no
// rows (before, it inserted every state again; on a cluster, sharded at
// random, on other shards than the view's rows, never merged with them).
func TestCommissionStatesBackfillOnce(t *testing.T) {
	env := testenv.Get(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	ctx := context.Background()
	view, backfill := viewAndBackfill(t, db, 204)
	exec := func(q string) {
		t.Helper()
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	fact := func(id string) string {
		return `INSERT INTO ` + db + `.commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)
SELECT 'ev-` + id + `', now(), '` + id + `', 'o-` + id + `', '1', 'p1', 'EUR', 100, 1000, 'pending'`
	}
	// History stored before the view existed.
	exec(`DROP TABLE ` + db + `.commission_states_mv`)
	exec(fact("h1"))
	exec(fact("h2"))
	exec(fact("h3"))
	exec(view)
	exec(fact("n1")) // the sink stores a new fact before the backfill runs
	exec(backfill)
	if n := queryInt(t, conn, `SELECT toInt64(uniqExact(commission_id)) FROM `+db+`.commission_states`); n != 4 {
		t.Errorf("commission_states holds %d commissions after the backfill, want 4", n)
	}
	exec(`OPTIMIZE TABLE ` + db + `.commission_states FINAL`)
	before := queryInt(t, conn, `SELECT toInt64(count()) FROM `+db+`.commission_states`)
	exec(backfill) // settler migrate after apply.sh
	if after := queryInt(t, conn, `SELECT toInt64(count()) FROM `+db+`.commission_states`); after != before {
		t.Errorf("commission_states has %d rows after the second backfill, want %d (unchanged)", after, before)
	}
}

// viewAndBackfill returns the materialized view and the backfill of
// ClickHouse migration version for database db.
func viewAndBackfill(t *testing.T, db string, version uint64) (view, backfill string) {
	t.Helper()
	files, err := migrate.ParseClickHouse(migrate.ClickHouseFS(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Version == version {
			for _, s := range f.Statements {
				if strings.Contains(s, "MATERIALIZED VIEW") {
					view = s
				}
				if strings.HasPrefix(strings.TrimSpace(s), "INSERT") {
					backfill = s
				}
			}
		}
	}
	if view == "" || backfill == "" {
		t.Fatalf("%05d has no view or no backfill", version)
	}
	return view, backfill
}

// TestCommissionHistoryBackfillOnce: the backfill of 00205 fills in what
// the commissions stored before commission_history_mv existed accrued and
// whether they were partially voided, also for a commission whose newer fact
// the view stored first (its approval after the partial void: alone, it
// says 1449 accrued and never partially voided), and a second run (settler
// migrate after deploy/clickhouse/cluster/apply.sh) adds no rows.
func TestCommissionHistoryBackfillOnce(t *testing.T) {
	env := testenv.Get(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	ctx := context.Background()
	view, backfill := viewAndBackfill(t, db, 205)
	exec := func(q string) {
		t.Helper()
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	fact := func(id, ev string, amount int64, state string) {
		t.Helper()
		exec(fmt.Sprintf(`INSERT INTO %s.commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)
SELECT 'ev-%s-%s', now(), '%s', 'o-%s', '1', 'p1', 'EUR', %d, 28980, '%s'`, db, id, ev, id, id, amount, state))
	}
	// History stored before the view existed.
	exec(`DROP TABLE ` + db + `.commission_history_mv`)
	fact("h1", "0", 2898, "pending")
	fact("h1", "1", 1449, "partially_voided")
	fact("h2", "0", 100, "pending")
	fact("h3", "0", 300, "pending")
	fact("h3", "1", 300, "approved")
	exec(view)
	// The sink stores new facts before the backfill runs: h1's approval and
	// a new commission.
	fact("h1", "2", 1449, "approved")
	fact("n1", "0", 100, "pending")
	exec(backfill)
	if n := queryInt(t, conn, `SELECT toInt64(uniqExact(commission_id)) FROM `+db+`.commission_history`); n != 4 {
		t.Errorf("commission_history holds %d commissions after the backfill, want 4", n)
	}
	for _, c := range []struct {
		id          string
		accrued, pv int64
	}{{"h1", 2898, 1}, {"h2", 100, 0}, {"h3", 300, 0}, {"n1", 100, 0}} {
		q := `SELECT toInt64(maxMerge(accrued_amount_minor)), toInt64(maxMerge(was_partially_voided)) FROM ` + db +
			`.commission_history WHERE commission_id = '` + c.id + `'`
		var accrued, pv int64
		if err := conn.QueryRow(ctx, q).Scan(&accrued, &pv); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if accrued != c.accrued || pv != c.pv {
			t.Errorf("%s: accrued %d, partially voided %d; want %d, %d", c.id, accrued, pv, c.accrued, c.pv)
		}
	}
	exec(`OPTIMIZE TABLE ` + db + `.commission_history FINAL`)
	before := queryInt(t, conn, `SELECT toInt64(count()) FROM `+db+`.commission_history`)
	exec(backfill) // settler migrate after apply.sh
	if after := queryInt(t, conn, `SELECT toInt64(count()) FROM `+db+`.commission_history`); after != before {
		t.Errorf("commission_history has %d rows after the second backfill, want %d (unchanged)", after, before)
	}
}
