package links

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/events"
)

// Channel is the Postgres NOTIFY channel link writers signal on (see the
// comment on the links table).
const Channel = "links_changed"

// Options configure a Loader. Every field is required.
type Options struct {
	PostgresURL string
	Policy      Policy
	// PollInterval is how often changed rows are fetched by updated_at, the
	// safety net behind NOTIFY; it bounds how stale the cache can get.
	PollInterval time.Duration
	// Overlap is how far before the newest updated_at seen each poll looks
	// again: updated_at is a transaction's start time, so a long
	// transaction may commit rows older than the newest row already seen.
	Overlap time.Duration
	// FullReloadInterval replaces the incremental view by a full load now
	// and then, repairing anything the incremental poll could have missed.
	FullReloadInterval time.Duration
	Logger             *slog.Logger
	// OnSync is called after each successful sync with the snapshot sizes,
	// the rows rejected for unsafe targets and the links whose product or
	// category id was dropped from their clicks (see eventID); it may be
	// nil.
	OnSync func(codes, slugs, rejected, droppedIDs int)
	// OnError is called after a failed sync; it may be nil.
	OnError func(error)
}

type linkRow struct {
	id, code, partnerID, kind, target, productID, categoryID string
	active                                                   bool
}

type partnerRow struct {
	id, slug, landing string
	active            bool
}

// Loader owns the rows and publishes snapshots into a Cache.
type Loader struct {
	opts     Options
	cache    *Cache
	links    map[string]linkRow // by id
	partners map[string]partnerRow
	mark     time.Time // newest updated_at seen, Postgres clock
	rejected int
	// dropped holds the links of the last snapshot whose product or
	// category id was dropped, so that each is logged once, not at every
	// publish.
	dropped map[string]struct{}
	conn    *pgx.Conn
}

// New connects, loads every link and partner, and returns a Cache ready to
// serve and its Loader, which Run keeps fresh. It fails when Postgres is
// not reachable within ctx.
func New(ctx context.Context, opts Options) (*Cache, *Loader, error) {
	l := &Loader{opts: opts, cache: &Cache{}}
	if err := l.full(ctx); err != nil {
		l.close()
		return nil, nil, err
	}
	return l.cache, l, nil
}

func (l *Loader) close() {
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// connect (re)opens the connection used for queries and LISTEN.
func (l *Loader) connect(ctx context.Context) error {
	if l.conn != nil && !l.conn.IsClosed() {
		return nil
	}
	l.close()
	conn, err := pgx.Connect(ctx, l.opts.PostgresURL)
	if err != nil {
		return fmt.Errorf("cannot connect to postgres: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		conn.Close(context.Background())
		return fmt.Errorf("cannot listen on %s: %w", Channel, err)
	}
	l.conn = conn
	return nil
}

// full replaces every row by a fresh load.
func (l *Loader) full(ctx context.Context) error {
	l.links = map[string]linkRow{}
	l.partners = map[string]partnerRow{}
	l.mark = time.Time{}
	if _, err := l.fetch(ctx, false); err != nil {
		return err
	}
	l.publish()
	return nil
}

// fetch reads rows changed since the mark (all rows when incremental is
// false) and reports whether any differed from what was held.
func (l *Loader) fetch(ctx context.Context, incremental bool) (bool, error) {
	if err := l.connect(ctx); err != nil {
		return false, err
	}
	since := time.Unix(0, 0)
	if incremental {
		since = l.mark.Add(-l.opts.Overlap)
	}
	changed := false
	newest := l.mark
	rows, err := l.conn.Query(ctx, `SELECT id::text, slug, coalesce(landing_url, ''), status = 'active', updated_at
		FROM partners WHERE updated_at > $1`, since)
	if err != nil {
		l.close()
		return false, fmt.Errorf("cannot query partners: %w", err)
	}
	for rows.Next() {
		var p partnerRow
		var at time.Time
		if err := rows.Scan(&p.id, &p.slug, &p.landing, &p.active, &at); err != nil {
			rows.Close()
			return false, fmt.Errorf("cannot scan partner: %w", err)
		}
		if old, ok := l.partners[p.id]; !ok || old != p {
			l.partners[p.id] = p
			changed = true
		}
		if at.After(newest) {
			newest = at
		}
	}
	if err := rows.Err(); err != nil {
		l.close()
		return false, fmt.Errorf("cannot read partners: %w", err)
	}
	rows, err = l.conn.Query(ctx, `SELECT id::text, code, partner_id::text, kind, target_url,
		coalesce(product_id, ''), coalesce(category_id, ''), active, updated_at
		FROM links WHERE updated_at > $1`, since)
	if err != nil {
		l.close()
		return false, fmt.Errorf("cannot query links: %w", err)
	}
	for rows.Next() {
		var r linkRow
		var at time.Time
		if err := rows.Scan(&r.id, &r.code, &r.partnerID, &r.kind, &r.target, &r.productID, &r.categoryID, &r.active, &at); err != nil {
			rows.Close()
			return false, fmt.Errorf("cannot scan link: %w", err)
		}
		if old, ok := l.links[r.id]; !ok || old != r {
			l.links[r.id] = r
			changed = true
		}
		if at.After(newest) {
			newest = at
		}
	}
	if err := rows.Err(); err != nil {
		l.close()
		return false, fmt.Errorf("cannot read links: %w", err)
	}
	l.mark = newest
	return changed, nil
}

// maxRejectLogs bounds the log lines one publish writes about refused rows.
const maxRejectLogs = 5

// publish builds a new immutable snapshot from the rows.
func (l *Loader) publish() {
	s := &Snapshot{
		codes:    make(map[string]*Entry, len(l.links)),
		slugs:    make(map[string]*Entry, len(l.partners)),
		SyncedAt: time.Now(),
	}
	rejected := 0
	dropped := map[string]struct{}{}
	base := l.opts.Policy.shopBase()
	shop := l.opts.Policy.ShopURL.String()
	for _, p := range l.partners {
		target := shop
		if p.landing != "" {
			if why, ok := l.opts.Policy.CheckTarget(p.landing); ok {
				target = p.landing
			} else {
				rejected++
				if rejected <= maxRejectLogs {
					l.opts.Logger.Warn("partner landing_url refused, using AFF_SHOP_URL", "partner_id", p.id, "reason", why)
				}
			}
		}
		s.slugs[p.slug] = &Entry{LinkID: "slug:" + p.slug, PartnerID: p.id, Kind: "slug", Target: target, Attribute: p.active, DeepBase: base}
	}
	for _, r := range l.links {
		if !r.active {
			continue
		}
		why, ok := l.opts.Policy.CheckTarget(r.target)
		if !ok {
			rejected++
			if rejected <= maxRejectLogs {
				l.opts.Logger.Warn("link target refused, the code redirects to AFF_SHOP_URL unattributed", "link_id", r.id, "reason", why)
			}
			continue
		}
		p, known := l.partners[r.partnerID]
		e := &Entry{
			LinkID: r.id, PartnerID: r.partnerID, Kind: r.kind, Target: r.target,
			ProductID: r.productID, CategoryID: r.categoryID,
			Attribute: known && p.active,
		}
		if !eventID(e.ProductID) || !eventID(e.CategoryID) {
			l.dropIDs(e, dropped)
		}
		s.codes[r.code] = e
	}
	if rejected > maxRejectLogs {
		l.opts.Logger.Warn("more links refused", "count", rejected-maxRejectLogs)
	}
	l.rejected = rejected
	l.dropped = dropped
	l.cache.cur.Store(s)
	if l.opts.OnSync != nil {
		l.opts.OnSync(len(s.codes), len(s.slugs), rejected, len(dropped))
	}
}

// dropIDs removes from e the product or category id a click event cannot
// carry, noting the link in dropped and logging it the first time. The
// click still records the partner and the link (attribution needs no
// more); with the id, the sink's decoder would refuse it into the dlq and
// its orders would never be attributed.
func (l *Loader) dropIDs(e *Entry, dropped map[string]struct{}) {
	product, category := e.ProductID, e.CategoryID
	if !eventID(product) {
		e.ProductID = ""
	}
	if !eventID(category) {
		e.CategoryID = ""
	}
	dropped[e.LinkID] = struct{}{}
	if _, seen := l.dropped[e.LinkID]; seen {
		return
	}
	l.opts.Logger.Warn("link product or category id dropped from its clicks: over "+strconv.Itoa(events.MaxIDLen)+
		" bytes or a control character", "link_id", e.LinkID,
		"product_id_bytes", len(product), "product_id_dropped", e.ProductID != product,
		"category_id_bytes", len(category), "category_id_dropped", e.CategoryID != category)
}

// eventID reports whether s is an id a click event carries (pkg/events'
// check of ids: at most events.MaxIDLen bytes, no C0 or C1 control
// characters, DEL included) as it is written (valid UTF-8: the encoder
// would turn each invalid byte into a 3-byte U+FFFD). The empty id is
// fine: the field is optional.
func eventID(s string) bool {
	return utf8.ValidString(s) && events.CheckOptionalID("product_id", s) == nil
}

// touch republishes the current snapshot with a new sync time, so that
// staleness reflects the last successful poll, not the last change.
func (l *Loader) touch() {
	old := l.cache.Load()
	s := &Snapshot{codes: old.codes, slugs: old.slugs, SyncedAt: time.Now()}
	l.cache.cur.Store(s)
	if l.opts.OnSync != nil {
		l.opts.OnSync(len(s.codes), len(s.slugs), l.rejected, len(l.dropped))
	}
}

// Run keeps the cache fresh until ctx is done: it waits for a NOTIFY or the
// poll interval, fetches changed rows and publishes. Errors (Postgres down)
// are reported through OnError and retried at the poll interval; the last
// snapshot keeps serving meanwhile.
func (l *Loader) Run(ctx context.Context) {
	defer l.close()
	lastFull := time.Now()
	for ctx.Err() == nil {
		l.wait(ctx)
		if ctx.Err() != nil {
			return
		}
		var err error
		if time.Since(lastFull) >= l.opts.FullReloadInterval {
			if err = l.full(ctx); err == nil {
				lastFull = time.Now()
			}
		} else {
			var changed bool
			if changed, err = l.fetch(ctx, true); err == nil {
				if changed {
					l.publish()
				} else {
					l.touch()
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			if l.opts.OnError != nil {
				l.opts.OnError(err)
			}
			l.opts.Logger.Error("link cache sync failed, serving the last snapshot", "error", err)
			sleep(ctx, l.opts.PollInterval)
		}
	}
}

// wait blocks until a notification arrives or the poll interval passes.
// After a notification it waits a few milliseconds more, so that a burst of
// writes becomes one fetch.
func (l *Loader) wait(ctx context.Context) {
	if l.conn == nil || l.conn.IsClosed() {
		sleep(ctx, l.opts.PollInterval)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, l.opts.PollInterval)
	_, err := l.conn.WaitForNotification(wctx)
	cancel()
	switch {
	case err == nil:
		sleep(ctx, 20*time.Millisecond)
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
	default:
		// The connection broke; fetch reconnects.
		l.close()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
