// Package ingest moves order and identity events from Kafka into Postgres,
// exactly once: every event's id goes into the inbox table in the same
// transaction as the event's effects, so a repeat changes nothing, and Kafka
// offsets are committed only after that transaction. Events that arrive out
// of order are handled deliberately: an order event that arrives before its
// order.placed waits in order_events and is applied when the order arrives;
// a second order.placed for a known order is recorded and ignored. A refund
// that does not fit its order (another currency, a line the order lacks) is
// refused whole, like an invalid event: it goes to the dlq with the reason
// and leaves nothing behind, also when it had been waiting for its order.
package ingest

import (
	"context"
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
	// Stored: the event had been stored by an earlier batch (a change that
	// waited for its order) and ApplyBatch removed it, so once the
	// transaction commits this is its only copy: it goes to the dlq before
	// the commit. The others go after it, as the batch is re-delivered
	// until its offsets are committed.
	Stored bool
}

// Counts are the effects of one applied batch.
type Counts struct {
	Applied    int // new events stored
	Duplicates int // repeats of stored events, skipped
	Rejected   int // sent to dlq
	Ignored    int // stored but deliberately not applied (a second order.placed, ...)
	Markers    int // Kafka transaction markers skipped (kafkatopic.IsTxnMarker)
}

// Decoder turns a message body into a validated event. It returns an error
// naming the field for bad input.
type Decoder struct {
	Order    func(body []byte) (OrderEvent, error)
	Identity func(body []byte) (IdentityEvent, error)
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

// refusal is the error of a change event that cannot be applied to its
// order: it goes to the dlq with Reason, as an invalid event does, and
// nothing of it is applied. Before, such refunds were stored as ignored, the
// shop heard nothing, and the commission of the refunded goods was paid.
type refusal struct{ Reason string }

func (r *refusal) Error() string { return r.Reason }

// applyChange applies a cancel, refund or delivery to a known order. It
// returns a reason when the event is ignored instead, and a *refusal when
// the event does not fit the order.
func applyChange(ctx context.Context, tx pgx.Tx, ev OrderEvent) (string, error) {
	var currency, status string
	// NO KEY UPDATE, as the UPDATE that follows takes: a settlement batch
	// that holds the order's queue row (which this change's trigger then
	// waits for) may still take KEY SHARE on the order for a foreign key
	// (self_referrals), and FOR UPDATE would make the two wait on each other.
	if err := tx.QueryRow(ctx, `SELECT currency, status FROM orders WHERE order_id = $1 FOR NO KEY UPDATE`, ev.OrderID).Scan(&currency, &status); err != nil {
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
		if ev.Currency != currency {
			return "", &refusal{fmt.Sprintf("currency: the refund is in %s, order %q is in %s", ev.Currency, ev.OrderID, currency)}
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
// capped at what each line holds. Lines are matched by line_id and refund
// by quantity (their product_id and unit_price are not compared: a shop
// may send the unit at its net price); a line id the order lacks refuses
// the whole refund (all or nothing). A price adjustment is a refund by
// amount.
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
	for j, rl := range ev.Lines {
		if _, ok := byID[rl.LineID]; !ok {
			return "", &refusal{fmt.Sprintf("lines[%d].line_id: order %q has no line %q", j, ev.OrderID, rl.LineID)}
		}
	}
	for _, rl := range ev.Lines {
		l := &lines[byID[rl.LineID]]
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
