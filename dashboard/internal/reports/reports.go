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

// Daily is DailyIn for commissions of any one currency: when the range
// holds commissions in more than one currency it fails rather than add
// them up. Callers that know the program currency use DailyIn.
func (r *Reports) Daily(ctx context.Context, partnerID string, days int, now time.Time) ([]Day, error) {
	return r.DailyIn(ctx, partnerID, "", days, now)
}

// DailyIn returns one point per UTC day of the last days days (zeros
// filled in) for one partner, or for every partner when partnerID is "".
// Orders and commission count the commissions in currency (the program
// currency; "" for whichever single one there is) by the day they first
// appeared, at what each keeps in its current state: voided and clawed
// back ones not at all, partially voided or clawed back ones at the rest.
func (r *Reports) DailyIn(ctx context.Context, partnerID, currency string, days int, now time.Time) ([]Day, error) {
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
	if err := r.dailyCommissions(ctx, out, idx, partnerID, currency, from); err != nil {
		return nil, err
	}
	return out, nil
}

// dailyCommissions fills Orders and CommissionMinor of out. It reads
// commission_states, whose current state follows the lifecycle rather than
// the clock (pkg/migrate/clickhouse/00204). The range starts at from as a
// Unix time: a date-time string would be read in the server's time zone.
func (r *Reports) dailyCommissions(ctx context.Context, out []Day, idx map[string]int, partnerID, currency string, from time.Time) error {
	rows, err := r.conn.Query(ctx, `SELECT toString(toDate(first, 'UTC')) AS d, cur, uniqExact(oid), sum(amt) FROM (
			SELECT minMerge(first_at) AS first, argMaxMerge(order_id) AS oid, argMaxMerge(currency) AS cur,
				argMaxMerge(current_amount_minor) AS amt, argMaxMerge(current_state) AS st
			FROM `+r.db+`.commission_states WHERE (? = '' OR partner_id = ?)
			GROUP BY partner_id, commission_id)
		WHERE first >= toDateTime(?) AND st NOT IN ('voided', 'clawed_back') AND (? = '' OR cur = ?)
		GROUP BY d, cur`, partnerID, partnerID, from.Unix(), currency, currency)
	if err != nil {
		return fmt.Errorf("cannot query daily commissions: %w", err)
	}
	defer rows.Close()
	seen := ""
	for rows.Next() {
		var d, cur string
		var orders uint64
		var amt int64
		if err := rows.Scan(&d, &cur, &orders, &amt); err != nil {
			return fmt.Errorf("cannot read daily commissions: %w", err)
		}
		if seen != "" && cur != seen {
			return fmt.Errorf("commissions in %s and %s: name the currency to chart", seen, cur)
		}
		seen = cur
		if i, ok := idx[d]; ok {
			out[i].Orders = orders
			out[i].CommissionMinor = amt
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read daily commissions: %w", err)
	}
	return nil
}
