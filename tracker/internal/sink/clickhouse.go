package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// openClickHouse connects over the native protocol (DESIGN §6: HTTP mode
// sends a setting 18.16 rejects) with LZ4 block compression, which both
// 18.16 and current releases accept and which halves the bytes of a batch.
func openClickHouse(ctx context.Context, addr, db string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{addr},
		Auth:         clickhouse.Auth{Database: db, Username: "default"},
		DialTimeout:  5 * time.Second,
		ReadTimeout:  30 * time.Second,
		MaxOpenConns: 4,
		Compression:  &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open clickhouse %s: %w", addr, err)
	}
	// No ping: a sink may start while ClickHouse is down and wait for it
	// in its insert retries.
	return conn, nil
}
