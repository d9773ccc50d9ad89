package check

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openaff/affiliate/pkg/migrate"
)

const clusterDir = "../clickhouse/cluster"

// fromRe finds the table a view reads.
var fromRe = regexp.MustCompile(`FROM (\S+)`)

// shardKey is a Distributed table's sharding key, or "" when it has none.
func shardKey(t Table) string {
	if len(t.Args) != 4 {
		return ""
	}
	return t.Args[3]
}

// readSchema parses every *.sql file of fsys with ${DB} replaced by DB (and
// ${CLUSTER} left as written), and returns it with the sorted file names.
func readSchema(t *testing.T, fsys fs.FS) (*Schema, []string) {
	t.Helper()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no .sql files: %v", err)
	}
	var stmts []string
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, migrate.SplitStatements(strings.ReplaceAll(string(body), "${DB}", "DB"))...)
	}
	s, err := ParseSchema(stmts)
	if err != nil {
		t.Fatal(err)
	}
	return s, names
}

// compareSchemas reports how the cluster DDL cl differs from the single-node
// schema one: per table T of one, a replicated T_local with the same columns,
// engine family, partitioning and ordering, and a Distributed T over it; per
// view, the same view reading and writing the _local tables. Nothing else.
func compareSchemas(one, cl *Schema) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, name := range slices.Sorted(maps.Keys(one.Tables)) {
		t := one.Tables[name]
		local, ok := cl.Tables[name+"_local"]
		if !ok {
			fail("%s_local is missing", name)
		} else {
			short := strings.TrimPrefix(name, "DB.")
			if !slices.Equal(local.Columns, t.Columns) {
				fail("%s_local columns %q, want %q", name, local.Columns, t.Columns)
			}
			if local.Engine != "Replicated"+t.Engine {
				fail("%s_local engine %s, want Replicated%s", name, local.Engine, t.Engine)
			}
			wantArgs := []string{"'/clickhouse/tables/{shard}/DB/" + short + "_local'", "'{replica}'"}
			if !slices.Equal(local.Args, wantArgs) {
				fail("%s_local engine arguments %q, want %q", name, local.Args, wantArgs)
			}
			if local.Rest != t.Rest {
				fail("%s_local has %q, want %q", name, local.Rest, t.Rest)
			}
			if local.Cluster != "${CLUSTER}" {
				fail("%s_local is not created ON CLUSTER '${CLUSTER}'", name)
			}
		}
		dist, ok := cl.Tables[name]
		if !ok {
			fail("Distributed %s is missing", name)
			continue
		}
		short := strings.TrimPrefix(name, "DB.")
		if dist.Engine != "Distributed" || dist.As != name+"_local" || dist.Cluster != "${CLUSTER}" ||
			len(dist.Args) != 4 || !slices.Equal(dist.Args[:3], []string{"'${CLUSTER}'", "'DB'", "'" + short + "_local'"}) {
			fail("%s is not ON CLUSTER '${CLUSTER}' AS %s_local ENGINE = Distributed('${CLUSTER}', '${DB}', '%s_local', key): %+v",
				name, name, short, dist)
			continue
		}
		// A replayed event must reach the shard that holds its first copy, or
		// ReplacingMergeTree never collapses the two.
		if key := dist.Args[3]; strings.HasSuffix(t.Engine, "ReplacingMergeTree") &&
			!slices.ContainsFunc(t.Columns, func(c string) bool { col, _, _ := strings.Cut(c, " "); return strings.Contains(key, col) }) {
			fail("%s: sharding key %s does not derive from the row's columns: repeats would not collapse", name, key)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cl.Tables)) {
		base := strings.TrimSuffix(name, "_local")
		if _, ok := one.Tables[base]; !ok {
			fail("%s is in the cluster DDL but no migration creates %s", name, base)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(one.Views)) {
		v := one.Views[name]
		cv, ok := cl.Views[name]
		if !ok {
			fail("view %s is missing", name)
			continue
		}
		if cv.To != v.To+"_local" {
			fail("view %s writes to %s, want %s_local", name, cv.To, v.To)
		}
		want := v.Select
		for table := range one.Tables {
			want = strings.ReplaceAll(want, table+" ", table+"_local ")
			if strings.HasSuffix(want, table) {
				want += "_local"
			}
		}
		if cv.Select != want {
			fail("view %s selects\n\t%s\nwant\n\t%s", name, cv.Select, want)
		}
		if cv.Cluster != "${CLUSTER}" {
			fail("view %s is not created ON CLUSTER '${CLUSTER}'", name)
		}
	}
	for name := range cl.Views {
		if _, ok := one.Views[name]; !ok {
			fail("view %s is in the cluster DDL but in no migration", name)
		}
	}
	// A backfill reads and writes the Distributed tables on a cluster, so
	// its text is the migration's.
	if !slices.Equal(cl.Backfills, one.Backfills) {
		fail("cluster backfills\n\t%q\nwant the migrations'\n\t%q", cl.Backfills, one.Backfills)
	}
	// A rollup a view fills on each shard from its source's rows and a
	// backfill fills through its Distributed table: both must put one key's
	// states on one shard, so the rollup shards like the view's source.
	for _, name := range slices.Sorted(maps.Keys(one.Views)) {
		v := one.Views[name]
		m := fromRe.FindStringSubmatch(v.Select)
		if m == nil || !slices.ContainsFunc(one.Backfills, func(b string) bool { return strings.HasPrefix(b, "INSERT INTO "+v.To+" ") }) {
			continue
		}
		to, from := cl.Tables[v.To], cl.Tables[m[1]]
		if len(to.Args) != 4 || len(from.Args) != 4 || to.Args[3] != from.Args[3] {
			fail("%s (backfilled, filled by view %s from %s) is sharded by %q, want %s's key %q", v.To, name, m[1], shardKey(to), m[1], shardKey(from))
		}
	}
	return problems
}

// TestClusterDDLMatchesMigrations keeps deploy/clickhouse/cluster equal to
// the ClickHouse migrations of pkg/migrate: a migration that adds a table,
// a column or a view must ship its cluster form too.
func TestClusterDDLMatchesMigrations(t *testing.T) {
	one, oneFiles := readSchema(t, migrate.ClickHouseFS())
	cl, clFiles := readSchema(t, os.DirFS(clusterDir))
	if !slices.Equal(oneFiles, clFiles) {
		t.Errorf("cluster files %q, want one per migration: %q", clFiles, oneFiles)
	}
	if len(one.Tables) < 9 || len(one.Views) < 4 {
		t.Fatalf("parsed only %d tables and %d views from the migrations", len(one.Tables), len(one.Views))
	}
	for _, p := range compareSchemas(one, cl) {
		t.Error(p)
	}
}

// TestClusterDDLComparisonFails breaks copies of the cluster schema in the
// ways a forgotten update would, so the test above cannot pass vacuously.
func TestClusterDDLComparisonFails(t *testing.T) {
	one, _ := readSchema(t, migrate.ClickHouseFS())
	f := func(why string, edit func(cl *Schema), wantInProblem string) {
		t.Helper()
		cl, _ := readSchema(t, os.DirFS(clusterDir))
		edit(cl)
		problems := compareSchemas(one, cl)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, wantInProblem) }) {
			t.Errorf("%s: problems %q, want one mentioning %q", why, problems, wantInProblem)
		}
	}
	f("a column added by a migration but not to the cluster", func(cl *Schema) {
		tb := cl.Tables["DB.clicks_local"]
		tb.Columns = tb.Columns[:len(tb.Columns)-1]
		cl.Tables["DB.clicks_local"] = tb
	}, "DB.clicks_local columns")
	f("a table without its Distributed table", func(cl *Schema) { delete(cl.Tables, "DB.order_lines") }, "Distributed DB.order_lines is missing")
	f("a non-replicated engine", func(cl *Schema) {
		tb := cl.Tables["DB.identities_local"]
		tb.Engine = "ReplacingMergeTree"
		cl.Tables["DB.identities_local"] = tb
	}, "ReplicatedReplacingMergeTree")
	f("a random sharding key on a deduplicated table", func(cl *Schema) {
		tb := cl.Tables["DB.clicks"]
		tb.Args = append(slices.Clone(tb.Args[:3]), "rand()")
		cl.Tables["DB.clicks"] = tb
	}, "repeats would not collapse")
	f("a view reading the Distributed table", func(cl *Schema) {
		v := cl.Views["DB.device_clicks_mv"]
		v.Select = strings.ReplaceAll(v.Select, "DB.clicks_local", "DB.clicks")
		cl.Views["DB.device_clicks_mv"] = v
	}, "view DB.device_clicks_mv selects")
	f("a view missing", func(cl *Schema) { delete(cl.Views, "DB.daily_orders_mv") }, "view DB.daily_orders_mv is missing")
	f("a table no migration has", func(cl *Schema) { cl.Tables["DB.extra_local"] = Table{Name: "DB.extra_local"} }, "DB.extra_local")
	f("a backfill reading a shard's table only", func(cl *Schema) {
		cl.Backfills = slices.Clone(cl.Backfills)
		cl.Backfills[0] = strings.ReplaceAll(cl.Backfills[0], "DB.commission_facts", "DB.commission_facts_local")
	}, "cluster backfills")
	f("a backfill missing", func(cl *Schema) { cl.Backfills = nil }, "cluster backfills")
	f("a backfilled rollup sharded apart from its view's source", func(cl *Schema) {
		tb := cl.Tables["DB.commission_states"]
		tb.Args = append(slices.Clone(tb.Args[:3]), "rand()")
		cl.Tables["DB.commission_states"] = tb
	}, "DB.commission_states (backfilled")
}

// TestParseSchemaRefusesUnknownStatements: a statement of a kind the
// comparison does not model must fail loudly, not be skipped.
func TestParseSchemaRefusesUnknownStatements(t *testing.T) {
	for _, stmt := range []string{
		"ALTER TABLE DB.clicks ADD COLUMN x String",
		"CREATE TABLE DB.clicks (a String) ENGINE = Memory", // without IF NOT EXISTS
		"CREATE VIEW IF NOT EXISTS DB.v AS SELECT 1",
	} {
		if _, err := ParseSchema([]string{stmt}); err == nil {
			t.Errorf("ParseSchema(%q) = nil error, want one", stmt)
		}
	}
	_, err := ParseSchema([]string{"CREATE TABLE IF NOT EXISTS DB.a (x String) ENGINE = Memory",
		"CREATE TABLE IF NOT EXISTS DB.a (x String) ENGINE = Memory"})
	if err == nil {
		t.Error("ParseSchema accepted a table created twice")
	}
}
