package migrate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

// TestPostgresDownReversesUp applies the migrations one at a time, then
// rolls them back one at a time: every Down must give back exactly the
// schema before its Up (columns, indexes, constraints, triggers, functions,
// views), so that deploy/OPERATIONS.md's rollback works.
func TestPostgresDownReversesUp(t *testing.T) {
	env := testenv.Get(t)
	ctx := testContext(t)
	dbURL := emptyDatabase(t, env)
	p := gooseProvider(t, dbURL)
	digests := map[int64]string{0: objectDigest(t, dbURL)}
	var versions []int64
	for {
		r, err := p.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			break
		}
		if err != nil {
			t.Fatalf("Up after %v: %v", versions, err)
		}
		v := r.Source.Version
		versions = append(versions, v)
		digests[v] = objectDigest(t, dbURL)
	}
	if len(versions) < 20 {
		t.Fatalf("applied only %v", versions)
	}
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("Down from %d: %v", v, err)
		}
		prev := int64(0)
		if i > 0 {
			prev = versions[i-1]
		}
		if got := objectDigest(t, dbURL); got != digests[prev] {
			t.Errorf("Down of %d does not restore the schema of %d:\n%s", v, prev, diffLines(digests[prev], got))
		}
	}
}

// gooseProvider applies the Postgres migrations to dbURL one version at a
// time, as the test asks.
func gooseProvider(t *testing.T, dbURL string) *goose.Provider {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrate.PostgresFS(), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// objectDigest lists the schema's objects, goose's own table aside.
func objectDigest(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
			SELECT format('col %s.%s %s notnull=%s default=%s collation=%s', c.relname, a.attname,
			              format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
			              a.attcollation::regcollation)
			FROM pg_attribute a
			JOIN pg_class c ON c.oid = a.attrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace
			LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p') AND c.relname <> 'goose_db_version'
			UNION ALL
			SELECT format('idx %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
			UNION ALL
			SELECT format('con %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
			FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version'
			UNION ALL
			SELECT format('trg %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
			UNION ALL
			SELECT format('fn %s', proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
			UNION ALL
			SELECT format('view %s %s', viewname, definition) FROM pg_views WHERE schemaname = 'public'
			ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
