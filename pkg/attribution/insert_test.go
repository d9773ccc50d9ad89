package attribution_test

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// insertClicks writes clicks into the clicks table, whose materialized view
// feeds device_clicks, as the sink does.
func insertClicks(t testing.TB, conn driver.Conn, db string, clicks []clickRow) {
	t.Helper()
	ctx := context.Background()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		t.Fatalf("PrepareBatch: %v", err)
	}
	for _, c := range clicks {
		bot := uint8(0)
		if c.bot {
			bot = 1
		}
		if err := batch.Append(c.id, c.at, c.device, c.partner, c.link, bot); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("Send: %v", err)
	}
}
