package attribution_test

import (
	"context"
	"os"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// clickhouse returns a connection to the package's ClickHouse and a fresh
// database with every migration applied.
func clickhouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	env := testenv.Get(t)
	db := env.ClickHouseDB(t)
	conn, err := migrate.Open(context.Background(), env.ClickHouseAddr(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, db
}
