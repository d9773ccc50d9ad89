package attribution_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var dbSeq atomic.Int64

// clickhouse returns a connection to the package's ClickHouse and a fresh
// database with every migration applied. It applies the statements itself
// rather than through env.ClickHouseDB because migrate.ClickHouse's
// INSERT ... VALUES into schema_migrations hangs on 18.16 (reported).
func clickhouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	env := testenv.Get(t)
	ctx := context.Background()
	conn, err := migrate.Open(ctx, env.ClickHouseAddr(), "default")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	db := fmt.Sprintf("attr_%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	ms, err := migrate.ParseClickHouse(migrate.ClickHouseFS(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, st := range m.Statements {
			if err := conn.Exec(ctx, st); err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
		}
	}
	return conn, db
}
