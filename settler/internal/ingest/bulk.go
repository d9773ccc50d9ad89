package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/pgcopy"
)

// maxReplay bounds the change events one batch applies.
const maxReplay = 1_000_000

type inboxKey struct{ topic, id string }

// item is one decoded, not yet known message of a batch.
type item struct {
	idx   int // position in the batch, to report rejects in order
	m     Message
	sum   [32]byte
	key   inboxKey
	order *OrderEvent
	ident *IdentityEvent
}

type rejectAt struct {
	idx int
	r   Rejected
}

// ApplyBatch applies msgs inside tx. Bad messages are returned as rejected
// (for the dlq, in batch order) and leave nothing behind; everything else is
// stored and applied, or recognised as a repeat. Rejected also holds the
// change events that do not fit their order (see replayWaiting), which
// may have been stored by an earlier batch, waiting for their order: once tx
// commits those (Rejected.Stored) exist nowhere but in what ApplyBatch
// returned, so the caller writes them to the dlq before it commits tx. It works set-wise: one
// statement claims every event id in the inbox, one stores the new orders,
// one their lines, and so on; only cancels, refunds and deliveries are
// applied one by one, per order in event time.
func ApplyBatch(ctx context.Context, tx pgx.Tx, dec Decoder, msgs []Message) ([]Rejected, Counts, error) {
	var (
		counts  Counts
		rejects []rejectAt
		items   []item
	)
	progCur, err := programCurrency(ctx, tx, msgs)
	if err != nil {
		return nil, Counts{}, err
	}
	first := make(map[inboxKey][32]byte, len(msgs))
	for i, m := range msgs {
		it := item{idx: i, m: m, sum: sha256.Sum256(m.Value)}
		switch m.Topic {
		case TopicOrders:
			ev, err := dec.Order(m.Value)
			if err != nil {
				rejects = append(rejects, rejectAt{i, Rejected{Message: m, Reason: "invalid order event: " + err.Error()}})
				continue
			}
			if ev.Type == TypePlaced && progCur != "" && ev.Currency != progCur {
				rejects = append(rejects, rejectAt{i, Rejected{Message: m, Reason: fmt.Sprintf(
					"currency: the order is in %s, the program's currency is %s (commissions and balances are kept in it)", ev.Currency, progCur)}})
				continue
			}
			it.order, it.key = &ev, inboxKey{m.Topic, ev.EventID}
		case TopicIdentities:
			ev, err := dec.Identity(m.Value)
			if err != nil {
				rejects = append(rejects, rejectAt{i, Rejected{Message: m, Reason: "invalid identity event: " + err.Error()}})
				continue
			}
			it.ident, it.key = &ev, inboxKey{m.Topic, ev.EventID}
		default:
			panic("BUG: ingest message from unknown topic " + m.Topic)
		}
		if sum, seen := first[it.key]; seen {
			if sum != it.sum {
				rejects = append(rejects, rejectAt{i, Rejected{Message: m, Reason: reusedReason(it.key.id)}})
			} else {
				counts.Duplicates++
			}
			continue
		}
		first[it.key] = it.sum
		items = append(items, it)
	}
	fresh, dupRejects, dups, err := claim(ctx, tx, items)
	if err != nil {
		return nil, Counts{}, err
	}
	rejects = append(rejects, dupRejects...)
	counts.Duplicates += dups
	res, err := store(ctx, tx, dec, fresh, len(msgs))
	if err != nil {
		return nil, Counts{}, err
	}
	refusedHere := 0
	for _, r := range res.refused {
		if r.idx < len(msgs) {
			refusedHere++
		}
	}
	rejects = append(rejects, res.refused...)
	counts.Applied = len(fresh) - res.placed - refusedHere
	counts.Ignored = res.placed + res.changes
	counts.Rejected = len(rejects)
	sort.Slice(rejects, func(a, b int) bool { return rejects[a].idx < rejects[b].idx })
	out := make([]Rejected, len(rejects))
	for i, r := range rejects {
		out[i] = r.r
	}
	return out, counts, nil
}

// programCurrency reads the program currency when msgs hold order events
// ("" without settings): commissions and balances are kept in it, so an
// order in another currency would earn its partner money no balance, payout
// or store credit shows. Read FOR SHARE: the dashboard's currency change
// (refused once commissions exist) waits for the batch, so no order is
// stored in a currency being replaced.
func programCurrency(ctx context.Context, tx pgx.Tx, msgs []Message) (string, error) {
	if !slices.ContainsFunc(msgs, func(m Message) bool { return m.Topic == TopicOrders }) {
		return "", nil
	}
	var cur string
	err := tx.QueryRow(ctx, `SELECT currency FROM program_settings WHERE id FOR SHARE`).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the program currency: %w", err)
	}
	return cur, nil
}

func reusedReason(id string) string {
	return fmt.Sprintf("event_id: %q was already received with another body", id)
}

// claim inserts every item's event id into the inbox in one statement and
// returns the items that were new. A known id is a duplicate when its body
// hash matches and a reject otherwise.
func claim(ctx context.Context, tx pgx.Tx, items []item) ([]item, []rejectAt, int, error) {
	if len(items) == 0 {
		return nil, nil, 0, nil
	}
	topics, ids, sums := make([]string, len(items)), make([]string, len(items)), make([][]byte, len(items))
	parts, offs := make([]int32, len(items)), make([]int64, len(items))
	for i, it := range items {
		topics[i], ids[i], sums[i], parts[i], offs[i] = it.key.topic, it.key.id, it.sum[:], int32(it.m.Partition), it.m.Offset
	}
	rows, err := tx.Query(ctx, `INSERT INTO inbox (topic, event_id, payload_sha256, kafka_partition, kafka_offset)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[], $5::bigint[])
ON CONFLICT (topic, event_id) DO NOTHING RETURNING topic, event_id`, topics, ids, sums, parts, offs)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("cannot insert inbox rows: %w", err)
	}
	inserted := make(map[inboxKey]bool, len(items))
	var k inboxKey
	if _, err := pgx.ForEachRow(rows, []any{&k.topic, &k.id}, func() error { inserted[k] = true; return nil }); err != nil {
		return nil, nil, 0, fmt.Errorf("cannot insert inbox rows: %w", err)
	}
	fresh := make([]item, 0, len(inserted))
	var known []item
	for _, it := range items {
		if inserted[it.key] {
			fresh = append(fresh, it)
		} else {
			known = append(known, it)
		}
	}
	if len(known) == 0 {
		return fresh, nil, 0, nil
	}
	topics, ids = topics[:0], ids[:0]
	for _, it := range known {
		topics, ids = append(topics, it.key.topic), append(ids, it.key.id)
	}
	rows, err = tx.Query(ctx, `SELECT topic, event_id, payload_sha256 FROM inbox
WHERE (topic, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, topics, ids)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("cannot read inbox rows: %w", err)
	}
	stored := make(map[inboxKey][]byte, len(known))
	var sum []byte
	if _, err := pgx.ForEachRow(rows, []any{&k.topic, &k.id, &sum}, func() error { stored[k] = slices.Clone(sum); return nil }); err != nil {
		return nil, nil, 0, fmt.Errorf("cannot read inbox rows: %w", err)
	}
	var rejects []rejectAt
	dups := 0
	for _, it := range known {
		if string(stored[it.key]) == string(it.sum[:]) {
			dups++
		} else {
			rejects = append(rejects, rejectAt{it.idx, Rejected{Message: it.m, Reason: reusedReason(it.key.id)}})
		}
	}
	return fresh, rejects, dups, nil
}

// storeResult is what store did not simply apply.
type storeResult struct {
	placed, changes int        // ignored: second order.placed, other changes
	refused         []rejectAt // refused change events, for the dlq
}

// store writes the new events: customers, identities, order events, new
// orders with their lines and products, then applies every waiting change
// of the orders the batch touched.
func store(ctx context.Context, tx pgx.Tx, dec Decoder, fresh []item, n int) (storeResult, error) {
	var ign storeResult
	customers := map[string]customerRow{}
	var idents []*IdentityEvent
	var orders []item
	for _, it := range fresh {
		if it.ident != nil {
			idents = append(idents, it.ident)
			mergeCustomer(customers, it.ident.CustomerID, it.ident.Email, it.ident.At)
		} else {
			orders = append(orders, it)
			if it.order.Type == TypePlaced && it.order.CustomerID != "" {
				mergeCustomer(customers, it.order.CustomerID, "", it.order.At)
			}
		}
	}
	if err := upsertCustomers(ctx, tx, customers); err != nil {
		return ign, err
	}
	if err := insertIdentities(ctx, tx, idents); err != nil {
		return ign, err
	}
	if len(orders) == 0 {
		return ign, nil
	}
	placed, err := storeOrders(ctx, tx, orders)
	if err != nil {
		return ign, err
	}
	ign.placed = placed
	touched := make([]string, 0, len(orders))
	inBatch := make(map[string]item, len(orders))
	for _, it := range orders {
		touched = append(touched, it.order.OrderID)
		inBatch[it.order.EventID] = it
	}
	ign.changes, ign.refused, err = replayWaiting(ctx, tx, dec, touched, inBatch, n)
	return ign, err
}

type customerRow struct {
	email string
	first time.Time
}

func mergeCustomer(m map[string]customerRow, id, email string, at time.Time) {
	c, ok := m[id]
	if !ok || at.Before(c.first) {
		c.first = at
	}
	if email != "" {
		c.email = email
	}
	m[id] = c
}

// upsertCustomers records customers, in id order so that concurrent
// batches lock rows in the same order.
func upsertCustomers(ctx context.Context, tx pgx.Tx, m map[string]customerRow) error {
	if len(m) == 0 {
		return nil
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	emails, firsts := make([]string, len(ids)), make([]time.Time, len(ids))
	for i, id := range ids {
		emails[i], firsts[i] = m[id].email, m[id].first
	}
	_, err := tx.Exec(ctx, `INSERT INTO customers (customer_id, email, first_seen_at)
SELECT c, NULLIF(e, ''), f FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(c, e, f)
ON CONFLICT (customer_id) DO UPDATE SET
    email = COALESCE(EXCLUDED.email, customers.email),
    first_seen_at = LEAST(customers.first_seen_at, EXCLUDED.first_seen_at),
    updated_at = now()
WHERE customers.email IS DISTINCT FROM COALESCE(EXCLUDED.email, customers.email)
   OR customers.first_seen_at > EXCLUDED.first_seen_at`, ids, emails, firsts)
	if err != nil {
		return fmt.Errorf("cannot upsert customers: %w", err)
	}
	return nil
}

func insertIdentities(ctx context.Context, tx pgx.Tx, evs []*IdentityEvent) error {
	if len(evs) == 0 {
		return nil
	}
	ids, devices, customers, emails := make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
	ats := make([]time.Time, len(evs))
	for i, e := range evs {
		ids[i], devices[i], customers[i], emails[i], ats[i] = e.EventID, e.DeviceToken, e.CustomerID, e.Email, e.At
	}
	_, err := tx.Exec(ctx, `INSERT INTO identities (event_id, device_token, customer_id, email, at)
SELECT i, d, c, NULLIF(e, ''), a FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(i, d, c, e, a)
ON CONFLICT (event_id) DO NOTHING`, ids, devices, customers, emails, ats)
	if err != nil {
		return fmt.Errorf("cannot insert identities: %w", err)
	}
	return nil
}

// storeOrders records every order event and creates the orders of the
// order.placed events; it returns how many order.placed were ignored
// because their order was already placed.
func storeOrders(ctx context.Context, tx pgx.Tx, orders []item) (int, error) {
	n := len(orders)
	evIDs, orderIDs, types := make([]string, n), make([]string, n), make([]string, n)
	ats, bodies := make([]time.Time, n), make([]string, n)
	var placed []*OrderEvent
	firstPlaced := map[string]bool{}
	var dupPlaced []string
	for i, it := range orders {
		o := it.order
		evIDs[i], orderIDs[i], types[i], ats[i], bodies[i] = o.EventID, o.OrderID, o.Type, o.At, string(it.m.Value)
		if o.Type != TypePlaced {
			continue
		}
		if firstPlaced[o.OrderID] {
			dupPlaced = append(dupPlaced, o.EventID)
			continue
		}
		firstPlaced[o.OrderID] = true
		placed = append(placed, o)
	}
	if err := lockOrders(ctx, tx, orderIDs); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO order_events (event_id, order_id, type, at, payload)
SELECT i, o, t, a, p::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS u(i, o, t, a, p)
ON CONFLICT (event_id) DO NOTHING`, evIDs, orderIDs, types, ats, bodies); err != nil {
		return 0, fmt.Errorf("cannot insert order events: %w", err)
	}
	created, err := createOrders(ctx, tx, placed)
	if err != nil {
		return 0, err
	}
	var applied []string
	for _, o := range placed {
		if created[o.OrderID] {
			applied = append(applied, o.EventID)
		} else {
			dupPlaced = append(dupPlaced, o.EventID)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE order_events SET applied_at = now() WHERE event_id = ANY($1)`, applied); err != nil {
		return 0, fmt.Errorf("cannot mark order events applied: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE order_events SET ignored_reason = 'order.placed for an order already placed: ignored'
WHERE event_id = ANY($1)`, dupPlaced); err != nil {
		return 0, fmt.Errorf("cannot mark order events ignored: %w", err)
	}
	return len(dupPlaced), nil
}

// orderLockClass is the first key of the ingest's per-order advisory locks
// (the two-int4 key space, which the settler's job locks, single bigint
// keys, do not share).
const orderLockClass int32 = 0x0aff0001

// lockOrders takes a transaction-scoped advisory lock per order (a hash of
// its id), in ascending key order so that two batches never deadlock on
// them. Two consumers can hold events of one order at once (after the
// topic's partitions were increased, its old and new events hash to
// different partitions): a change event stored while its order.placed was
// being stored by another transaction saw no order, waited, and was
// replayed by neither — the other transaction did not see it either. Now
// the second waits for the first to commit, and then sees it.
func lockOrders(ctx context.Context, tx pgx.Tx, orderIDs []string) error {
	keys := make([]int32, len(orderIDs))
	for i, id := range orderIDs {
		h := fnv.New32a()
		_, _ = h.Write([]byte(id))
		keys[i] = int32(h.Sum32())
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	// unnest yields the array in order, and each row's lock is taken as the
	// row is produced.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS u(k)`, orderLockClass, keys); err != nil {
		return fmt.Errorf("cannot lock orders: %w", err)
	}
	return nil
}

// createOrders inserts the orders that do not exist yet, with their lines
// and any product not seen before, and returns the ids it created.
func createOrders(ctx context.Context, tx pgx.Tx, placed []*OrderEvent) (map[string]bool, error) {
	created := map[string]bool{}
	if len(placed) == 0 {
		return created, nil
	}
	n := len(placed)
	ids, customers, devices, currencies := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, shipping := make([]time.Time, n), make([]int64, n)
	for i, o := range placed {
		ids[i], customers[i], devices[i], currencies[i], ats[i], shipping[i] = o.OrderID, o.CustomerID, o.DeviceToken, o.Currency, o.At, o.ShippingFeeMinor
	}
	rows, err := tx.Query(ctx, `INSERT INTO orders (order_id, customer_id, device_token, currency, placed_at, shipping_fee_minor)
SELECT i, NULLIF(c, ''), NULLIF(d, ''), cur, a, s
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[]) AS u(i, c, d, cur, a, s)
ON CONFLICT (order_id) DO NOTHING RETURNING order_id`, ids, customers, devices, currencies, ats, shipping)
	if err != nil {
		return nil, fmt.Errorf("cannot insert orders: %w", err)
	}
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { created[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("cannot insert orders: %w", err)
	}
	var lines [][]any
	products := map[string]string{}
	for _, o := range placed {
		if !created[o.OrderID] {
			continue
		}
		for _, l := range o.Lines {
			lines = append(lines, []any{o.OrderID, l.LineID, l.ProductID, nullable(l.CategoryID), l.Quantity, l.UnitPriceMinor, l.DiscountMinor})
			if _, ok := products[l.ProductID]; !ok || products[l.ProductID] == "" {
				products[l.ProductID] = l.CategoryID
			}
		}
	}
	if _, err := lineTable.Copy(ctx, tx, lines); err != nil {
		return nil, fmt.Errorf("cannot insert order lines: %w", err)
	}
	pids := make([]string, 0, len(products))
	for p := range products {
		pids = append(pids, p)
	}
	slices.Sort(pids)
	cats := make([]string, len(pids))
	for i, p := range pids {
		cats[i] = products[p]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO products (product_id, category_id, source)
SELECT p, NULLIF(c, ''), 'orders' FROM unnest($1::text[], $2::text[]) AS u(p, c)
ON CONFLICT (product_id) DO NOTHING`, pids, cats); err != nil {
		return nil, fmt.Errorf("cannot record products: %w", err)
	}
	return created, nil
}

// replayWaiting applies, per order in event time, every change event of the
// given orders that is not applied yet and whose order exists: events of
// this batch, and events that arrived before their order.placed. It returns
// how many it ignored (with their reason recorded), and the events it
// refused (a refund that does not fit its order; a stored event that no
// longer decodes, after the decoder grew stricter), which it removed from
// order_events and the inbox, leaving nothing behind as for any invalid
// event. A refused event of this batch is reported with its message
// (inBatch, by event id); one stored by an earlier batch with its place in
// the log from the inbox and its stored payload (as Postgres's jsonb wrote
// it back, not the original bytes), after this batch's messages (n).
func replayWaiting(ctx context.Context, tx pgx.Tx, dec Decoder, orderIDs []string, inBatch map[string]item, n int) (int, []rejectAt, error) {
	rows, err := tx.Query(ctx, `SELECT e.event_id, e.payload, i.kafka_partition, i.kafka_offset
FROM order_events e JOIN orders o ON o.order_id = e.order_id
LEFT JOIN inbox i ON i.topic = $3 AND i.event_id = e.event_id
WHERE e.order_id = ANY($1) AND e.applied_at IS NULL AND e.ignored_reason IS NULL AND e.type <> 'order.placed'
ORDER BY e.order_id, e.at, e.event_id LIMIT $2`, orderIDs, maxReplay, TopicOrders)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot read waiting order events: %w", err)
	}
	type waiting struct {
		id        string
		body      []byte
		partition *int32
		offset    *int64
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (waiting, error) {
		var w waiting
		return w, r.Scan(&w.id, &w.body, &w.partition, &w.offset)
	})
	if err != nil {
		return 0, nil, fmt.Errorf("cannot read waiting order events: %w", err)
	}
	ignored := 0
	var refused []rejectAt
	for _, w := range evs {
		reason, err := replayOne(ctx, tx, dec, w.body)
		var rf *refusal
		if errors.As(err, &rf) {
			r := rejectAt{idx: n + len(refused), r: Rejected{Message: Message{Topic: TopicOrders, Value: w.body}, Reason: rf.Reason, Stored: true}}
			if it, ok := inBatch[w.id]; ok {
				r.idx, r.r.Message, r.r.Stored = it.idx, it.m, false
			} else if w.partition != nil && w.offset != nil {
				r.r.Message.Partition, r.r.Message.Offset = int(*w.partition), *w.offset
			}
			if err := forget(ctx, tx, w.id); err != nil {
				return 0, nil, err
			}
			refused = append(refused, r)
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		if reason != "" {
			ignored++
		}
		if err := markEvent(ctx, tx, w.id, reason); err != nil {
			return 0, nil, err
		}
	}
	return ignored, refused, nil
}

// replayOne decodes a stored change event and applies it; see applyChange.
func replayOne(ctx context.Context, tx pgx.Tx, dec Decoder, body []byte) (string, error) {
	ev, err := dec.Order(body)
	if err != nil {
		// Stored when the decoder accepted it; a stricter one refuses it
		// now. Failing the batch would stop ingest for good.
		return "", &refusal{"invalid order event: " + err.Error()}
	}
	return applyChange(ctx, tx, ev)
}

// forget removes a refused event from order_events and the inbox, so that
// a corrected event may come with the same id, and a repeat of the refused
// one goes to the dlq again.
func forget(ctx context.Context, tx pgx.Tx, eventID string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM order_events WHERE event_id = $1`, eventID); err != nil {
		return fmt.Errorf("cannot delete refused order event: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM inbox WHERE topic = $1 AND event_id = $2`, TopicOrders, eventID); err != nil {
		return fmt.Errorf("cannot delete refused inbox row: %w", err)
	}
	return nil
}

// lineTable is the COPY target of new order lines.
var lineTable = pgcopy.NewTable("order_lines", pgcopy.Col("order_id", pgcopy.Text), pgcopy.Col("line_id", pgcopy.Text),
	pgcopy.Col("product_id", pgcopy.Text), pgcopy.Col("category_id", pgcopy.Text), pgcopy.Col("quantity", pgcopy.Int8),
	pgcopy.Col("unit_price_minor", pgcopy.Int8), pgcopy.Col("discount_minor", pgcopy.Int8))
