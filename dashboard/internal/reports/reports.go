// Package reports reads the daily traffic and sales charts from the
// ClickHouse rollups (never money: amounts shown here are indicative, the
// ledger in Postgres is the truth).
package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MaxDays bounds a chart's range.
const MaxDays = 366

// Reports queries one ClickHouse database.
type Reports struct {
	conn driver.Conn
	db   string
}

// Open connects to ClickHouse at addr (native protocol) and database db.
func Open(ctx context.Context, addr, db string) (*Reports, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: db},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open clickhouse: %w", err)
	}
	return &Reports{conn: conn, db: db}, nil
}

// Close closes the connection.
func (r *Reports) Close() error { return r.conn.Close() }

// Day is one point of the daily series.
type Day struct {
	Day             time.Time
	Clicks          uint64
	Orders          uint64
	CommissionMinor int64
}

// Daily returns one point per day of the last days days (zeros filled in)
// for one partner, or for every partner when partnerID is "".
func (r *Reports) Daily(ctx context.Context, partnerID string, days int, now time.Time) ([]Day, error) {
	if days < 1 || days > MaxDays {
		return nil, fmt.Errorf("days %d outside 1..%d", days, MaxDays)
	}
	to := now.UTC().Truncate(24 * time.Hour)
	from := to.AddDate(0, 0, -(days - 1))
	out := make([]Day, days)
	idx := map[string]int{}
	for i := range out {
		out[i].Day = from.AddDate(0, 0, i)
		idx[out[i].Day.Format("2006-01-02")] = i
	}
	rows, err := r.conn.Query(ctx, `SELECT toString(day), uniqExactIfMerge(clicks) FROM `+r.db+`.daily_clicks
		WHERE day >= toDate(?) AND (? = '' OR partner_id = ?) GROUP BY day`, from.Format("2006-01-02"), partnerID, partnerID)
	if err != nil {
		return nil, fmt.Errorf("cannot query daily clicks: %w", err)
	}
	for rows.Next() {
		var d string
		var n uint64
		if err := rows.Scan(&d, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read daily clicks: %w", err)
		}
		if i, ok := idx[d]; ok {
			out[i].Clicks = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read daily clicks: %w", err)
	}
	rows, err = r.conn.Query(ctx, `SELECT toString(toDate(first)) AS d, uniqExact(oid), sum(amt) FROM (
			SELECT minMerge(first_at) AS first, argMaxMerge(order_id) AS oid,
				argMaxMerge(amount_minor) AS amt, argMaxMerge(state) AS st
			FROM `+r.db+`.commissions_current WHERE (? = '' OR partner_id = ?)
			GROUP BY partner_id, commission_id)
		WHERE first >= toDateTime(?) AND st NOT IN ('voided') GROUP BY d`, partnerID, partnerID, from.Format("2006-01-02 15:04:05"))
	if err != nil {
		return nil, fmt.Errorf("cannot query daily commissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var orders uint64
		var amt int64
		if err := rows.Scan(&d, &orders, &amt); err != nil {
			return nil, fmt.Errorf("cannot read daily commissions: %w", err)
		}
		if i, ok := idx[d]; ok {
			out[i].Orders = orders
			out[i].CommissionMinor = amt
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read daily commissions: %w", err)
	}
	return out, nil
}
