package attribution_test

import (
	"context"
	"os"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/openaff/affiliate/pkg/migrate"
)

// TEMPORARY until pkg/testenv lands.
func clickhouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	addr := os.Getenv("CH_ADDR")
	db := "attr_" + sanitize(t.Name())
	ctx := context.Background()
	c, err := migrate.Open(ctx, addr, "default")
	if err != nil {
		t.Fatal(err)
	}
	c.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
	c.Exec(ctx, "CREATE DATABASE "+db)
	ms, err := migrate.ParseClickHouse(migrate.ClickHouseFS(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, st := range m.Statements {
			if err := c.Exec(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { c.Close() })
	return c, db
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
