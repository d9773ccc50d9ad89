// Package ingest moves order and identity events from Kafka into Postgres,
// exactly once: every event's id goes into the inbox table in the same
// transaction as the event's effects, so a repeat changes nothing, and Kafka
// offsets are committed only after that transaction. Events that arrive out
// of order are handled deliberately: an order event that arrives before its
// order.placed waits in order_events and is applied when the order arrives;
// a second order.placed for a known order is recorded and ignored.
package ingest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/settler/internal/commission"
)

// Short topic names as stored in the inbox (the Kafka prefix is not part of them).
const (
	TopicOrders     = "orders"
	TopicIdentities = "identities"
)

// Order event types (DESIGN §4.3).
const (
	TypePlaced    = "order.placed"
	TypeCancelled = "order.cancelled"
	TypeRefunded  = "order.refunded"
	TypeDelivered = "order.delivered"
)

// MaxPendingPerOrder bounds how many early events of one order are replayed
// when its order.placed arrives.
const MaxPendingPerOrder = 1000

// OrderLine is one line of an order event. For order.refunded, Quantity is
// the quantity refunded.
type OrderLine struct {
	LineID         string
	ProductID      string
	CategoryID     string
	Quantity       int64
	UnitPriceMinor int64
	DiscountMinor  int64
}

// OrderEvent is a validated order event with amounts in minor units.
type OrderEvent struct {
	EventID          string
	Type             string
	OrderID          string
	At               time.Time
	CustomerID       string
	DeviceToken      string
	Currency         string
	Lines            []OrderLine
	ShippingFeeMinor int64
	// AmountMinor is an order-level refund amount (order.refunded with
	// "amount" instead of lines), spread over the lines in proportion to
	// what is left of each.
	AmountMinor int64
}

// IdentityEvent is a validated identity event.
type IdentityEvent struct {
	EventID     string
	At          time.Time
	DeviceToken string
	CustomerID  string
	Email       string
}

// Message is one Kafka message to apply, with where it came from.
type Message struct {
	Topic     string // short name: TopicOrders or TopicIdentities
	Partition int
	Offset    int64
	Value     []byte
}

// Rejected is a message that cannot be applied and goes to the dlq topic.
type Rejected struct {
	Message Message
	Reason  string
}

// Counts are the effects of one applied batch.
type Counts struct {
	Applied    int // new events stored
	Duplicates int // repeats of stored events, skipped
	Rejected   int // sent to dlq
	Ignored    int // stored but deliberately not applied (a second order.placed, ...)
}

// Decoder turns a message body into a validated event. It returns an error
// naming the field for bad input.
type Decoder struct {
	Order    func(body []byte) (OrderEvent, error)
	Identity func(body []byte) (IdentityEvent, error)
}

// ApplyBatch applies msgs inside tx, in order. Bad messages are returned as
// rejected (for the dlq) and leave nothing behind; everything else is stored
// and applied, or recognised as a repeat.
func ApplyBatch(ctx context.Context, tx pgx.Tx, dec Decoder, msgs []Message) ([]Rejected, Counts, error) {
	var (
		rejected []Rejected
		counts   Counts
	)
	for _, m := range msgs {
		reason, status, err := applyOne(ctx, tx, dec, m)
		if err != nil {
			return nil, Counts{}, fmt.Errorf("cannot apply %s message at partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		switch status {
		case statusApplied:
			counts.Applied++
		case statusDuplicate:
			counts.Duplicates++
		case statusIgnored:
			counts.Ignored++
		case statusRejected:
			counts.Rejected++
			rejected = append(rejected, Rejected{Message: m, Reason: reason})
		}
	}
	return rejected, counts, nil
}

type status int

const (
	statusApplied status = iota
	statusDuplicate
	statusIgnored
	statusRejected
)

func applyOne(ctx context.Context, tx pgx.Tx, dec Decoder, m Message) (string, status, error) {
	switch m.Topic {
	case TopicOrders:
		ev, err := dec.Order(m.Value)
		if err != nil {
			return "invalid order event: " + err.Error(), statusRejected, nil
		}
		if reason, st, err := claim(ctx, tx, m, ev.EventID); err != nil || st != statusApplied {
			return reason, st, err
		}
		ignored, err := storeOrderEvent(ctx, tx, dec, ev, m.Value)
		if err != nil {
			return "", 0, err
		}
		if ignored {
			return "", statusIgnored, nil
		}
		return "", statusApplied, nil
	case TopicIdentities:
		ev, err := dec.Identity(m.Value)
		if err != nil {
			return "invalid identity event: " + err.Error(), statusRejected, nil
		}
		if reason, st, err := claim(ctx, tx, m, ev.EventID); err != nil || st != statusApplied {
			return reason, st, err
		}
		return "", statusApplied, storeIdentity(ctx, tx, ev)
	default:
		panic("BUG: ingest message from unknown topic " + m.Topic)
	}
}

// claim records the event id in the inbox. It reports statusDuplicate for a
// repeat of the same body, statusRejected for a reused id with another body.
func claim(ctx context.Context, tx pgx.Tx, m Message, eventID string) (string, status, error) {
	sum := sha256.Sum256(m.Value)
	tag, err := tx.Exec(ctx, `INSERT INTO inbox (topic, event_id, payload_sha256, kafka_partition, kafka_offset)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic, event_id) DO NOTHING`, m.Topic, eventID, sum[:], m.Partition, m.Offset)
	if err != nil {
		return "", 0, fmt.Errorf("cannot insert inbox row: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return "", statusApplied, nil
	}
	var stored []byte
	if err := tx.QueryRow(ctx, `SELECT payload_sha256 FROM inbox WHERE topic = $1 AND event_id = $2`, m.Topic, eventID).Scan(&stored); err != nil {
		return "", 0, fmt.Errorf("cannot read inbox row: %w", err)
	}
	if string(stored) != string(sum[:]) {
		return fmt.Sprintf("event_id: %q was already received with another body", eventID), statusRejected, nil
	}
	return "", statusDuplicate, nil
}

func storeIdentity(ctx context.Context, tx pgx.Tx, ev IdentityEvent) error {
	if err := upsertCustomer(ctx, tx, ev.CustomerID, ev.Email, ev.At); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO identities (event_id, device_token, customer_id, email, at)
VALUES ($1, $2, $3, NULLIF($4, ''), $5) ON CONFLICT (event_id) DO NOTHING`,
		ev.EventID, ev.DeviceToken, ev.CustomerID, ev.Email, ev.At)
	if err != nil {
		return fmt.Errorf("cannot insert identity: %w", err)
	}
	return nil
}

func upsertCustomer(ctx context.Context, tx pgx.Tx, customerID, email string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO customers (customer_id, email, first_seen_at) VALUES ($1, NULLIF($2, ''), $3)
ON CONFLICT (customer_id) DO UPDATE SET
    email = COALESCE(EXCLUDED.email, customers.email),
    first_seen_at = LEAST(customers.first_seen_at, EXCLUDED.first_seen_at),
    updated_at = now()
WHERE customers.email IS DISTINCT FROM COALESCE(EXCLUDED.email, customers.email)
   OR customers.first_seen_at > EXCLUDED.first_seen_at`, customerID, email, at)
	if err != nil {
		return fmt.Errorf("cannot upsert customer: %w", err)
	}
	return nil
}

// storeOrderEvent records the event and applies it when its order is known.
// It reports whether the event was deliberately ignored.
func storeOrderEvent(ctx context.Context, tx pgx.Tx, dec Decoder, ev OrderEvent, body []byte) (bool, error) {
	_, err := tx.Exec(ctx, `INSERT INTO order_events (event_id, order_id, type, at, payload)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING`, ev.EventID, ev.OrderID, ev.Type, ev.At, body)
	if err != nil {
		return false, fmt.Errorf("cannot insert order event: %w", err)
	}
	if ev.Type == TypePlaced {
		return place(ctx, tx, dec, ev)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE order_id = $1)`, ev.OrderID).Scan(&exists); err != nil {
		return false, fmt.Errorf("cannot look up order: %w", err)
	}
	if !exists {
		// Arrived before its order.placed: it waits in order_events.
		return false, nil
	}
	reason, err := applyChange(ctx, tx, ev)
	if err != nil {
		return false, err
	}
	return reason != "", markEvent(ctx, tx, ev.EventID, reason)
}

// markEvent records that an event was applied, or why it was ignored.
func markEvent(ctx context.Context, tx pgx.Tx, eventID, ignoredReason string) error {
	var err error
	if ignoredReason != "" {
		_, err = tx.Exec(ctx, `UPDATE order_events SET ignored_reason = $2 WHERE event_id = $1`, eventID, ignoredReason)
	} else {
		_, err = tx.Exec(ctx, `UPDATE order_events SET applied_at = now() WHERE event_id = $1`, eventID)
	}
	if err != nil {
		return fmt.Errorf("cannot mark order event: %w", err)
	}
	return nil
}

// place creates the order and its lines, then replays the order's events
// that arrived before it. A second order.placed is recorded and ignored.
func place(ctx context.Context, tx pgx.Tx, dec Decoder, ev OrderEvent) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO orders (order_id, customer_id, device_token, currency, placed_at, shipping_fee_minor)
VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), $4, $5, $6) ON CONFLICT (order_id) DO NOTHING`,
		ev.OrderID, ev.CustomerID, ev.DeviceToken, ev.Currency, ev.At, ev.ShippingFeeMinor)
	if err != nil {
		return false, fmt.Errorf("cannot insert order: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return true, markEvent(ctx, tx, ev.EventID, "order.placed for an order already placed: ignored")
	}
	if ev.CustomerID != "" {
		if err := upsertCustomer(ctx, tx, ev.CustomerID, "", ev.At); err != nil {
			return false, err
		}
	}
	rows := make([][]any, len(ev.Lines))
	for i, l := range ev.Lines {
		rows[i] = []any{ev.OrderID, l.LineID, l.ProductID, nullable(l.CategoryID), l.Quantity, l.UnitPriceMinor, l.DiscountMinor}
		if _, err := tx.Exec(ctx, `INSERT INTO products (product_id, category_id, source) VALUES ($1, $2, 'orders')
ON CONFLICT (product_id) DO NOTHING`, l.ProductID, nullable(l.CategoryID)); err != nil {
			return false, fmt.Errorf("cannot record product: %w", err)
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"order_lines"},
		[]string{"order_id", "line_id", "product_id", "category_id", "quantity", "unit_price_minor", "discount_minor"},
		pgx.CopyFromRows(rows)); err != nil {
		return false, fmt.Errorf("cannot insert order lines: %w", err)
	}
	if err := markEvent(ctx, tx, ev.EventID, ""); err != nil {
		return false, err
	}
	return false, replayWaiting(ctx, tx, dec, ev.OrderID)
}

// replayWaiting applies, in event time order, the events of orderID that
// arrived before its order.placed.
func replayWaiting(ctx context.Context, tx pgx.Tx, dec Decoder, orderID string) error {
	rows, err := tx.Query(ctx, `SELECT payload FROM order_events
WHERE order_id = $1 AND applied_at IS NULL AND ignored_reason IS NULL AND type <> 'order.placed'
ORDER BY at, event_id LIMIT $2`, orderID, MaxPendingPerOrder)
	if err != nil {
		return fmt.Errorf("cannot read waiting order events: %w", err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return fmt.Errorf("cannot read waiting order events: %w", err)
	}
	for _, body := range bodies {
		ev, err := dec.Order(body)
		if err != nil {
			return fmt.Errorf("BUG: stored order event no longer decodes: %w", err)
		}
		reason, err := applyChange(ctx, tx, ev)
		if err != nil {
			return err
		}
		if err := markEvent(ctx, tx, ev.EventID, reason); err != nil {
			return err
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type lineState struct {
	id        string
	qty, base int64
	refQty    int64
	refAmount int64
}

// applyChange applies a cancel, refund or delivery to a known order. It
// returns a reason when the event is ignored instead.
func applyChange(ctx context.Context, tx pgx.Tx, ev OrderEvent) (string, error) {
	var currency, status string
	if err := tx.QueryRow(ctx, `SELECT currency, status FROM orders WHERE order_id = $1 FOR UPDATE`, ev.OrderID).Scan(&currency, &status); err != nil {
		return "", fmt.Errorf("cannot lock order: %w", err)
	}
	switch ev.Type {
	case TypeCancelled:
		if status == "cancelled" {
			return "order already cancelled", nil
		}
		return "", bump(ctx, tx, ev.OrderID, `status = 'cancelled', cancelled_at = $2`, ev.At)
	case TypeDelivered:
		return "", bump(ctx, tx, ev.OrderID,
			`delivered_at = COALESCE(delivered_at, $2), status = CASE WHEN status = 'placed' THEN 'delivered' ELSE status END`, ev.At)
	case TypeRefunded:
		if ev.Currency != "" && ev.Currency != currency {
			return fmt.Sprintf("refund currency %s differs from the order's %s", ev.Currency, currency), nil
		}
		return refund(ctx, tx, ev)
	default:
		panic("BUG: applyChange of " + ev.Type)
	}
}

func bump(ctx context.Context, tx pgx.Tx, orderID, set string, args ...any) error {
	_, err := tx.Exec(ctx, `UPDATE orders SET `+set+`, revision = revision + 1, updated_at = now() WHERE order_id = $1`,
		append([]any{orderID}, args...)...)
	if err != nil {
		return fmt.Errorf("cannot update order: %w", err)
	}
	return nil
}

// refund adds the refunded quantities and amounts to the order's lines,
// capped at what each line holds.
func refund(ctx context.Context, tx pgx.Tx, ev OrderEvent) (string, error) {
	rows, err := tx.Query(ctx, `SELECT line_id, quantity, unit_price_minor * quantity - discount_minor,
refunded_quantity, refunded_amount_minor FROM order_lines WHERE order_id = $1 ORDER BY line_id`, ev.OrderID)
	if err != nil {
		return "", fmt.Errorf("cannot read order lines: %w", err)
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lineState, error) {
		var l lineState
		return l, r.Scan(&l.id, &l.qty, &l.base, &l.refQty, &l.refAmount)
	})
	if err != nil {
		return "", fmt.Errorf("cannot read order lines: %w", err)
	}
	byID := make(map[string]int, len(lines))
	for i, l := range lines {
		byID[l.id] = i
	}
	for _, rl := range ev.Lines {
		i, ok := byID[rl.LineID]
		if !ok {
			return fmt.Sprintf("refund names line %q, which the order does not have", rl.LineID), nil
		}
		l := &lines[i]
		l.refQty = min(l.qty, l.refQty+rl.Quantity)
	}
	if ev.AmountMinor > 0 {
		remaining := make([]int64, len(lines))
		for i, l := range lines {
			remaining[i] = remainingBase(l)
		}
		for i, part := range commission.AllocateAmount(ev.AmountMinor, remaining) {
			lines[i].refAmount = min(lines[i].base, lines[i].refAmount+part)
		}
	}
	full := true
	for _, l := range lines {
		if _, err := tx.Exec(ctx, `UPDATE order_lines SET refunded_quantity = $3, refunded_amount_minor = $4
WHERE order_id = $1 AND line_id = $2`, ev.OrderID, l.id, l.refQty, l.refAmount); err != nil {
			return "", fmt.Errorf("cannot update order line: %w", err)
		}
		full = full && commission.FullyRefunded(l.qty, l.base, commission.Refunded{Quantity: l.refQty, AmountMinor: l.refAmount})
	}
	status := "partially_refunded"
	if full {
		status = "refunded"
	}
	return "", bump(ctx, tx, ev.OrderID, `status = CASE WHEN status = 'cancelled' THEN status ELSE $2 END`, status)
}

// remainingBase is what is not yet refunded of a line's base, rounding the
// quantity part down so that an amount refund never exceeds the line.
func remainingBase(l lineState) int64 {
	if l.qty <= 0 {
		return 0
	}
	byQty := commission.Reversed(commission.LineCommission{Quantity: l.qty, BaseMinor: l.base, AmountMinor: l.base},
		commission.Refunded{Quantity: l.refQty})
	return max(l.base-byQty-l.refAmount, 0)
}
