package attribution_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/attribution"
)

// BenchmarkLookup10k answers 10k (device, time) pairs against 10M clicks on
// 1M devices spread over a year; the goal is well under a second per batch.
// The baseline sub-benchmark answers a single pair, to show the fixed cost.
func BenchmarkLookup10k(b *testing.B) {
	ctx := context.Background()
	conn, db := clickhouse(b)
	const clicks, devices = 10_000_000, 1_000_000
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	// Generated inside ClickHouse: shipping 10M rows from Go would dominate.
	err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.device_clicks (device_token, at, click_id, partner_id, link_id)
SELECT concat('d', toString(intHash64(number) %% %d)), toDateTime(%d + intHash32(number) %% (365*86400), 'UTC'),
       concat('c', toString(number)), toString(number %% 1000), toString(number %% 50000)
FROM system.numbers LIMIT %d`, db, devices, start.Unix(), clicks))
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	qs := make([]attribution.Query, 10_000)
	for i := range qs {
		qs[i] = attribution.Query{
			DeviceToken: fmt.Sprintf("d%d", rng.IntN(devices)),
			At:          start.Add(time.Duration(rng.IntN(365*86400)) * time.Second),
		}
	}
	run := func(b *testing.B, qs []attribution.Query) {
		b.ReportAllocs()
		found := 0
		for b.Loop() {
			rs, err := attribution.Lookup(ctx, conn, db, qs, 365*24*time.Hour, attribution.LastClick)
			if err != nil {
				b.Fatal(err)
			}
			found = 0
			for _, r := range rs {
				if r.Found {
					found++
				}
			}
		}
		b.ReportMetric(float64(found)/float64(len(qs)), "found/query")
	}
	b.Run("pairs=1", func(b *testing.B) { run(b, qs[:1]) })
	b.Run("pairs=10000", func(b *testing.B) { run(b, qs) })
}
