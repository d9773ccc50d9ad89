// Package attribution answers the device rule of attribution (DESIGN §5,
// rule 3) from ClickHouse: for a batch of (device token, time) pairs, the
// winning non-bot click on that device at or before the time and within the
// attribution window, under the last-click or first-click model.
//
// It reads the device_clicks table (pkg/migrate/clickhouse/00202), which is
// ordered by device token, so a batch reads only the granules of the asked
// devices. The batch's tokens travel as a ClickHouse external table, so the
// query text stays small whatever the batch size; the winner is picked in Go.
//
// Times are compared at second precision, as ClickHouse stores them: a click
// counts when its second is ≤ the query time's second and ≥ that second minus
// the window (both edges included). Ties between clicks in the same second
// are broken by click id (UUIDv7, so time-ordered): the greatest wins under
// last-click, the smallest under first-click.
package attribution

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Model is the attribution model: which click in the window wins.
type Model string

// The attribution models of the program settings (DESIGN §4.4).
const (
	LastClick  Model = "last_click"
	FirstClick Model = "first_click"
)

// MaxBatch is the largest number of queries one Lookup call accepts; larger
// batches must be split by the caller (it bounds the rows read at once).
const MaxBatch = 100_000

// MaxClicksPerDevice bounds how many clicks of one device a lookup reads; a
// device beyond it is answered from its most recent clicks only. Non-bot
// humans do not click a million times; a token that does is abuse.
const MaxClicksPerDevice = 100_000

// Query asks for the winning click of one device at one time (an order's).
type Query struct {
	DeviceToken string
	At          time.Time
}

// Result is the answer to the Query at the same index. Found is false when
// no click qualifies; the other fields are then zero.
type Result struct {
	Found     bool
	PartnerID string
	LinkID    string
	ClickID   string
	ClickAt   time.Time
}

// ErrBadInput reports a query batch or setting Lookup refuses.
var ErrBadInput = errors.New("attribution: bad input")

type click struct {
	atSec     int64
	clickID   string
	partnerID string
	linkID    string
}

// Lookup answers every query of qs under window and model, reading
// database db through conn. results[i] answers qs[i]. A query with an empty
// device token is answered Found=false without touching ClickHouse.
func Lookup(ctx context.Context, conn driver.Conn, db string, qs []Query, window time.Duration, model Model) ([]Result, error) {
	if model != LastClick && model != FirstClick {
		return nil, fmt.Errorf("%w: model %q: want %q or %q", ErrBadInput, model, LastClick, FirstClick)
	}
	if window <= 0 {
		return nil, fmt.Errorf("%w: window %s: must be positive", ErrBadInput, window)
	}
	if len(qs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d queries: at most %d per call", ErrBadInput, len(qs), MaxBatch)
	}
	results := make([]Result, len(qs))
	clicks, err := fetch(ctx, conn, db, qs, window)
	if err != nil {
		return nil, err
	}
	windowSec := int64(window / time.Second)
	for i, q := range qs {
		cs := clicks[q.DeviceToken]
		if len(cs) == 0 {
			continue
		}
		if c, ok := pick(cs, q.At.Unix(), windowSec, model); ok {
			results[i] = Result{Found: true, PartnerID: c.partnerID, LinkID: c.linkID, ClickID: c.clickID, ClickAt: time.Unix(c.atSec, 0).UTC()}
		}
	}
	return results, nil
}

// pick returns the winner among cs (sorted by time, then click id) for a
// query at atSec.
func pick(cs []click, atSec, windowSec int64, model Model) (click, bool) {
	from := atSec - windowSec
	// hi: first click after atSec.
	hi := sort.Search(len(cs), func(i int) bool { return cs[i].atSec > atSec })
	lo := sort.Search(len(cs), func(i int) bool { return cs[i].atSec >= from })
	if lo >= hi {
		return click{}, false
	}
	if model == FirstClick {
		return cs[lo], true
	}
	return cs[hi-1], true
}

// fetch reads the clicks of every asked device in the union of the windows,
// grouped by device and sorted by (time, click id), duplicates removed.
func fetch(ctx context.Context, conn driver.Conn, db string, qs []Query, window time.Duration) (map[string][]click, error) {
	tokens, err := ext.NewTable("lookup_devices", ext.Column("device_token", "String"))
	if err != nil {
		return nil, fmt.Errorf("cannot build lookup table: %w", err)
	}
	seen := make(map[string]bool, len(qs))
	var minAt, maxAt int64
	for _, q := range qs {
		if q.DeviceToken == "" || seen[q.DeviceToken] {
			continue
		}
		at := q.At.Unix()
		if len(seen) == 0 || at < minAt {
			minAt = at
		}
		if len(seen) == 0 || at > maxAt {
			maxAt = at
		}
		seen[q.DeviceToken] = true
		if err := tokens.Append(q.DeviceToken); err != nil {
			return nil, fmt.Errorf("cannot build lookup table: %w", err)
		}
	}
	// A repeated token with another time widens the range.
	for _, q := range qs {
		if q.DeviceToken != "" {
			minAt, maxAt = min(minAt, q.At.Unix()), max(maxAt, q.At.Unix())
		}
	}
	out := make(map[string][]click, len(seen))
	if len(seen) == 0 {
		return out, nil
	}
	from := max(minAt-int64(window/time.Second), 0)
	query := fmt.Sprintf(`SELECT device_token, toUInt32(at), click_id, partner_id, link_id
FROM %s.device_clicks
WHERE device_token IN (SELECT device_token FROM lookup_devices)
  AND at >= toDateTime(%d, 'UTC') AND at <= toDateTime(%d, 'UTC')
ORDER BY device_token, at DESC, click_id DESC
LIMIT %d BY device_token`, quoteIdent(db), from, maxAt, MaxClicksPerDevice)
	rows, err := conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(tokens)), query)
	if err != nil {
		return nil, fmt.Errorf("cannot query device clicks: %w", err)
	}
	defer rows.Close()
	var (
		token string
		atSec uint32
		c     click
	)
	for rows.Next() {
		if err := rows.Scan(&token, &atSec, &c.clickID, &c.partnerID, &c.linkID); err != nil {
			return nil, fmt.Errorf("cannot read device clicks: %w", err)
		}
		c.atSec = int64(atSec)
		out[token] = append(out[token], c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read device clicks: %w", err)
	}
	for token, cs := range out {
		// Rows arrive newest first; reverse to ascending and drop replays
		// that ClickHouse has not merged yet (same second and click id).
		for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
			cs[i], cs[j] = cs[j], cs[i]
		}
		dedup := cs[:0]
		for _, c := range cs {
			if n := len(dedup); n > 0 && dedup[n-1].atSec == c.atSec && dedup[n-1].clickID == c.clickID {
				continue
			}
			dedup = append(dedup, c)
		}
		out[token] = dedup
	}
	return out, nil
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }
