package app

import (
	"context"
	"testing"
	"time"
)

// aff_settler_queued_orders_oldest_seconds was computed from
// settle_queue.created_at, which the queue trigger copies from
// orders.created_at (the order's first receipt), also when a change
// re-queues an order already settled (a delivery, a refund days later): the
// gauge said the queue had waited for days although the row was queued a
// moment ago. It counts from queued_at (00420) now.
func TestQueuedOldestCountsFromQueueing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := w.pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO orders (order_id, currency, placed_at, created_at) VALUES ('o-old', 'EUR', now() - interval '3 days', now() - interval '3 days')`)
	exec(`DELETE FROM settle_queue WHERE order_id = 'o-old'`) // settled by an earlier pass
	// The order is delivered now: re-queued this very moment.
	exec(`UPDATE orders SET status = 'delivered', delivered_at = now(), revision = revision + 1 WHERE order_id = 'o-old'`)
	q, err := waiting(ctx, w.pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("queued orders %d, oldest %s", q.orders, q.ordersOldest)
	if q.orders != 1 || q.ordersOldest > time.Hour {
		t.Errorf("an order re-queued a moment ago is reported as waiting for %s (aff_settler_queued_orders_oldest_seconds)", q.ordersOldest)
	}
}
