package migrate_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

// byteOrderExceptions are the indexed text columns 00440 leaves in the
// database's collation, with the reason.
var byteOrderExceptions = map[string]string{
	"outbox.event_id": "the outbox_messages view depends on it; one row per settlement batch",
}

// TestIndexedTextIsByteOrdered: every text column an index reads directly
// is in the "C" collation (00440), so that its index compares bytes in a
// database of any locale. A new migration that indexes a text column
// declares it COLLATE "C" or adds it to byteOrderExceptions with a reason.
func TestIndexedTextIsByteOrdered(t *testing.T) {
	env := testenv.Get(t)
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, env.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT DISTINCT t.relname || '.' || a.attname, a.attcollation::regcollation::text
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid AND t.relnamespace = 'public'::regnamespace
JOIN LATERAL unnest(i.indkey) k(attnum) ON true
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) AND t.relname <> 'goose_db_version'
ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var column, collation string
	n := 0
	if _, err := pgx.ForEachRow(rows, []any{&column, &collation}, func() error {
		n++
		if _, ok := byteOrderExceptions[column]; ok {
			return nil
		}
		if collation != `"C"` {
			t.Errorf("indexed text column %s has collation %s, want \"C\" (declare it COLLATE \"C\", as 00440 does)", column, collation)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("found %d indexed text columns; the query lost its way", n)
	}
}

// TestMigrationsInEnglishLocale migrates a database created in en_US.UTF-8,
// as managed Postgres services and the postgres image create them: the
// migrations run there, and identifiers still sort as bytes (as Go and
// ClickHouse sort them), where the locale would put "a-1" before "B-1".
func TestMigrationsInEnglishLocale(t *testing.T) {
	out, err := exec.Command("locale", "-a").Output()
	if err != nil || !strings.Contains(strings.ToLower(string(out)), "en_us.utf8") {
		t.Fatalf("this machine lacks the en_US.UTF-8 locale (locale -a: %v); bash deploy/install-deps.sh generates it", err)
	}
	env := testenv.Get(t)
	ctx := testContext(t)
	dbURL := emptyDatabaseIn(t, env, "en_US.UTF-8")
	if err := migrate.Postgres(ctx, dbURL); err != nil {
		t.Fatalf("migrations in en_US.UTF-8: %v", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var localeOrder bool
	if err := conn.QueryRow(ctx, `SELECT 'a-1'::text < 'B-1'::text`).Scan(&localeOrder); err != nil {
		t.Fatal(err)
	}
	if !localeOrder {
		t.Fatal("the database does not sort in en_US.UTF-8 ('a-1' after 'B-1'): the test proves nothing")
	}
	if _, err := conn.Exec(ctx, `INSERT INTO categories (category_id, source) VALUES ('a-1', 'import'), ('B-1', 'import'), ('b-1', 'import')`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT category_id FROM categories WHERE category_id > 'A' ORDER BY category_id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, " "); got != "B-1 a-1 b-1" {
		t.Errorf("category ids sort as %q, want byte order %q", got, "B-1 a-1 b-1")
	}
}

// TestCollationKeepsPlannerStatistics: 00440's new column types drop the
// columns' statistics, which autovacuum would gather again only after a
// tenth of each table changed; the migration analyzes the tables itself.
// Without it the planner took a customer's orders for a thousand times as
// many rows and scanned whole tables (a reviewer's finding).
func TestCollationKeepsPlannerStatistics(t *testing.T) {
	env := testenv.Get(t)
	ctx := testContext(t)
	dbURL := emptyDatabase(t, env)
	p := gooseProvider(t, dbURL)
	if _, err := p.UpTo(ctx, 430); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `INSERT INTO orders (order_id, customer_id, currency, placed_at)
SELECT 'ord-' || g, 'cust-' || (g % 1000), 'EUR', now() FROM generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	stats := func() (n int) {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stats
WHERE tablename = 'orders' AND attname IN ('order_id', 'customer_id')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := stats(); n != 2 {
		t.Fatalf("before 00440: statistics for %d of orders' two id columns", n)
	}
	if _, err := p.UpTo(ctx, 440); err != nil {
		t.Fatal(err)
	}
	if n := stats(); n != 2 {
		t.Errorf("after 00440: statistics for %d of orders' two id columns, want 2 (the migration analyzes what it converts)", n)
	}
}
