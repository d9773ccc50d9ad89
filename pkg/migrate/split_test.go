package migrate

import (
	"reflect"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	f := func(sql string, want []string) {
		t.Helper()
		if got := SplitStatements(sql); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitStatements(%q) = %q, want %q", sql, got, want)
		}
	}
	// Empty text and comment-only text hold no statement.
	f("", nil)
	f("-- only a comment\n\n", nil)
	// A statement may span lines; the terminating ';' is dropped.
	f("CREATE TABLE a (\n  x UInt8\n) ENGINE = Memory;\n", []string{"CREATE TABLE a (\n  x UInt8\n) ENGINE = Memory"})
	// Two statements, with a comment between them and trailing blanks after ';'.
	f("SELECT 1;  \n-- why\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"})
	// A last statement without ';' is still returned.
	f("SELECT 1;\nSELECT 2", []string{"SELECT 1", "SELECT 2"})
	// A ';' inside a line is not a terminator.
	f("SELECT ';' AS x, 2;\n", []string{"SELECT ';' AS x, 2"})
}

func TestParseClickHouse(t *testing.T) {
	fsys := fstest.MapFS{
		"00002_b.sql": {Data: []byte("CREATE VIEW IF NOT EXISTS v AS SELECT * FROM ${DB}.t;\n")},
		"00001_a.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory;\n")},
		"README.md":   {Data: []byte("not a migration")},
	}
	got, err := ParseClickHouse(fsys, "affiliate")
	if err != nil {
		t.Fatalf("ParseClickHouse: %v", err)
	}
	if len(got) != 2 || got[0].Version != 1 || got[1].Version != 2 {
		t.Fatalf("ParseClickHouse versions = %+v, want 1 then 2", got)
	}
	if want := "CREATE VIEW IF NOT EXISTS v AS SELECT * FROM `affiliate`.t"; got[1].Statements[0] != want {
		t.Errorf("placeholder not replaced: %q, want %q", got[1].Statements[0], want)
	}

	bad := func(fsys fstest.MapFS, why string) {
		t.Helper()
		if _, err := ParseClickHouse(fsys, "x"); err == nil {
			t.Errorf("ParseClickHouse accepted %s", why)
		}
	}
	bad(fstest.MapFS{"a_b.sql": {Data: []byte("SELECT 1;")}}, "a name without a version")
	bad(fstest.MapFS{"00001_a.sql": {Data: []byte("SELECT 1;")}, "1_b.sql": {Data: []byte("SELECT 1;")}}, "two files with one version")
	bad(fstest.MapFS{"00001_a.sql": {Data: []byte("-- nothing\n")}}, "a file without statements")
}

func TestEmbeddedClickHouseMigrationsParse(t *testing.T) {
	if _, err := ParseClickHouse(ClickHouseFS(), "affiliate"); err != nil {
		t.Fatalf("embedded clickhouse migrations: %v", err)
	}
}
