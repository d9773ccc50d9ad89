package sink_test

import (
	"context"
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
	files, err := migrate.ParseClickHouse(migrate.ClickHouseFS(), db)
	if err != nil {
		t.Fatal(err)
	}
	var view, backfill string
	for _, f := range files {
		if f.Version == 204 {
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
		t.Fatal("00204 has no view or no backfill")
	}
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
