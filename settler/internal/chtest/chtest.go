// Package chtest gives settler tests a fresh ClickHouse database with the
// schema applied, on the test environment's server.
package chtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

var seq atomic.Int64

// DB creates a fresh ClickHouse database with every ClickHouse migration
// applied and drops it when t ends. It applies the statements itself
// instead of calling testenv's ClickHouseDB: pkg/migrate records each
// migration with an Exec INSERT, which hangs on ClickHouse 18.16 (the
// problem pkg/testenv's cc4dbb5 works around for its own inserts).
func DB(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	addr := testenv.Get(t).ClickHouseAddr()
	name := fmt.Sprintf("settler_%d_%d", os.Getpid(), seq.Add(1))
	conn, err := migrate.Open(ctx, addr, "default")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	files, err := migrate.ParseClickHouse(migrate.ClickHouseFS(), name)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE DATABASE IF NOT EXISTS " + name}
	for _, f := range files {
		stmts = append(stmts, f.Statements...)
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		c, err := migrate.Open(context.Background(), addr, "default")
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
			c.Close()
		}
	})
	return name
}
