package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Order is an order with its current attribution.
type Order struct {
	ID               string
	CustomerID       string
	Currency         string
	PlacedAt         time.Time
	Status           string
	ShippingFeeMinor int64
	Manual           bool
	Settled          bool
	TotalMinor       int64
	// Current attribution; Rule is "" until the settler decided.
	PartnerID int64
	Rule      string
	ClickID   string
	// SelfReferral: the ordering customer is the attributed partner's own
	// shop account, so the order earns it no commission (flagged by the
	// settler).
	SelfReferral bool
	// WatermarkForced: the settler decided after AFF_SETTLER_MAX_WAIT
	// without the clicks watermark past the order (the sink lagged): a
	// click that reached ClickHouse later was not seen.
	WatermarkForced bool
	Lines           []OrderLine
	// Candidates are the attribution candidates the settler considered
	// (filled by Order only).
	Candidates []Candidate
}

// Candidate is one rule's candidate partner in an attribution decision.
type Candidate struct {
	Rule      string     `json:"rule"`
	PartnerID *int64     `json:"partner_id"`
	ClickID   string     `json:"click_id"`
	At        *time.Time `json:"at"`
	Reason    string     `json:"reason"`
}

// OrderLine is one line of an order.
type OrderLine struct {
	LineID              string
	ProductID           string
	CategoryID          string
	Quantity            int64
	UnitPriceMinor      int64
	DiscountMinor       int64
	RefundedQuantity    int64
	RefundedAmountMinor int64
}

const orderColumns = `o.order_id, coalesce(o.customer_id, ''), o.currency, o.placed_at, o.status, o.shipping_fee_minor,
	o.manual, NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id),
	coalesce((SELECT sum(unit_price_minor * quantity - discount_minor) FROM order_lines l WHERE l.order_id = o.order_id), 0)::bigint,
	coalesce(a.partner_id, 0), coalesce(a.rule, ''), coalesce(a.click_id::text, ''), coalesce(a.self_referral, false),
	coalesce(a.watermark_forced, false)`

const orderFrom = ` FROM orders o LEFT JOIN attributions a ON a.order_id = o.order_id AND a.superseded_at IS NULL`

func scanOrder(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.CustomerID, &o.Currency, &o.PlacedAt, &o.Status, &o.ShippingFeeMinor, &o.Manual,
		&o.Settled, &o.TotalMinor, &o.PartnerID, &o.Rule, &o.ClickID, &o.SelfReferral, &o.WatermarkForced)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("cannot read order: %w", err)
	}
	return o, nil
}

// Order reads an order with its lines and current attribution.
func (s *Storage) Order(ctx context.Context, id string) (Order, error) {
	o, err := scanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+orderFrom+` WHERE o.order_id = $1`, id))
	if err != nil {
		return Order{}, err
	}
	var cands []byte
	err = s.pool.QueryRow(ctx, `SELECT candidates FROM attributions WHERE order_id = $1 AND superseded_at IS NULL`, id).Scan(&cands)
	switch {
	case err == nil:
		// Evidence only: a shape this code does not know is shown as empty.
		_ = json.Unmarshal(cands, &o.Candidates)
	case !errors.Is(err, pgx.ErrNoRows):
		return Order{}, fmt.Errorf("cannot read attribution candidates: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT line_id, product_id, coalesce(category_id, ''), quantity, unit_price_minor,
		discount_minor, refunded_quantity, refunded_amount_minor FROM order_lines WHERE order_id = $1 ORDER BY line_id LIMIT 1000`, id)
	if err != nil {
		return Order{}, fmt.Errorf("cannot read order lines: %w", err)
	}
	o.Lines, err = collect(rows, func(r pgx.Row) (OrderLine, error) {
		var l OrderLine
		if err := r.Scan(&l.LineID, &l.ProductID, &l.CategoryID, &l.Quantity, &l.UnitPriceMinor, &l.DiscountMinor,
			&l.RefundedQuantity, &l.RefundedAmountMinor); err != nil {
			return OrderLine{}, fmt.Errorf("cannot read order line: %w", err)
		}
		return l, nil
	})
	return o, err
}

// OrderFilter narrows the order list.
type OrderFilter struct {
	PartnerID int64
	Status    string
	From, To  time.Time // placed_at range [From, To); zero means open
	// Forced, when set, keeps the orders decided without the clicks
	// watermark (WatermarkForced, for review) or, false, the others.
	Forced *bool
}

// Orders lists orders newest first with their current attribution.
func (s *Storage) Orders(ctx context.Context, f OrderFilter, pg Page) ([]Order, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+orderFrom+`
		WHERE ($1 = 0 OR a.partner_id = $1) AND ($2 = '' OR o.status = $2)
		  AND ($3::timestamptz IS NULL OR o.placed_at >= $3) AND ($4::timestamptz IS NULL OR o.placed_at < $4)
		  AND ($7::boolean IS NULL OR coalesce(a.watermark_forced, false) = $7)
		ORDER BY o.placed_at DESC, o.order_id DESC LIMIT $5 OFFSET $6`,
		f.PartnerID, f.Status, nullTime(f.From), nullTime(f.To), pg.Size+1, pg.Offset(), f.Forced)
	if err != nil {
		return nil, false, fmt.Errorf("cannot list orders: %w", err)
	}
	out, err := collect(rows, scanOrder)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// SetOrderPartner records an admin override of the order's partner
// (partnerID 0 removes any partner) and queues the order for the next
// settlement pass, which re-attributes it. Repeating the newest override
// is a no-op.
func (s *Storage) SetOrderPartner(ctx context.Context, orderID string, partnerID, adminID int64, reason string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE orders SET revision = revision + 1, updated_at = now() WHERE order_id = $1`, orderID)
		if err != nil {
			return fmt.Errorf("cannot queue order: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		var pid any
		if partnerID > 0 {
			if err := partnerExists(ctx, tx, partnerID); err != nil {
				return err
			}
			pid = partnerID
		}
		// The same override again changes nothing (the order row is locked
		// by the UPDATE above, so this check does not race).
		var last int64
		err = tx.QueryRow(ctx, `SELECT coalesce(partner_id, 0) FROM order_overrides WHERE order_id = $1 ORDER BY id DESC LIMIT 1`,
			orderID).Scan(&last)
		if err == nil && last == partnerID {
			return errSameOverride
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cannot read override: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO order_overrides (order_id, partner_id, reason, created_by) VALUES ($1, $2, $3, $4)`,
			orderID, pid, nullStr(reason), nullID(adminID))
		if err != nil {
			return fmt.Errorf("cannot record override: %w", err)
		}
		return nil
	})
	if errors.Is(err, errSameOverride) {
		return nil // rolled back: the revision is not bumped either
	}
	return err
}

// errSameOverride rolls back a repeated override.
var errSameOverride = errors.New("same override")

// OrderOverridePartner returns the partner of the newest override of an
// order (0 = removed) and whether there is any override.
func (s *Storage) OrderOverridePartner(ctx context.Context, orderID string) (int64, bool, error) {
	var pid int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(partner_id, 0) FROM order_overrides WHERE order_id = $1 ORDER BY id DESC LIMIT 1`,
		orderID).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cannot read override: %w", err)
	}
	return pid, true, nil
}

// ManualSale is an admin-created sales record.
type ManualSale struct {
	OrderID    string
	CustomerID string
	Currency   string
	PlacedAt   time.Time
	PartnerID  int64
	Lines      []OrderLine
}

// CreateManualSale writes an admin's sales record the way the settler's
// ingest would (the order, its lines and its order.placed event, marked
// applied) plus an override to the partner, queued for settlement. A
// repeat of the same order id with the same content is a no-op; with
// another content it is a conflict. Its currency must be the program's.
func (s *Storage) CreateManualSale(ctx context.Context, m ManualSale, adminID int64) error {
	lines := make([]map[string]any, len(m.Lines))
	for i, l := range m.Lines {
		lines[i] = map[string]any{"line_id": l.LineID, "product_id": l.ProductID, "quantity": l.Quantity,
			"unit_price_minor": l.UnitPriceMinor, "discount_minor": l.DiscountMinor}
		if l.CategoryID != "" {
			lines[i]["category_id"] = l.CategoryID
		}
	}
	payload, err := json.Marshal(map[string]any{"v": 1, "event_id": "manual:" + m.OrderID, "type": "order.placed",
		"order_id": m.OrderID, "at": m.PlacedAt.UTC().Format(time.RFC3339Nano), "customer_id": m.CustomerID,
		"currency": m.Currency, "lines": lines, "manual": true, "partner_id": m.PartnerID})
	if err != nil {
		return fmt.Errorf("cannot encode manual sale: %w", err)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := partnerExists(ctx, tx, m.PartnerID); err != nil {
			return err
		}
		// Its commissions would be in m.Currency while balances are kept
		// in the program currency (FOR SHARE: UpdateProgram waits).
		var cur string
		if err := tx.QueryRow(ctx, `SELECT currency FROM program_settings WHERE id FOR SHARE`).Scan(&cur); err != nil {
			return fmt.Errorf("cannot read program currency: %w", err)
		}
		if m.Currency != cur {
			return &FieldError{Field: "currency", Msg: "must be the program currency " + cur + " (commissions and balances are kept in it)"}
		}
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT payload FROM order_events WHERE event_id = $1`, "manual:"+m.OrderID).Scan(&prev)
		if err == nil {
			// The same record sent again (its time defaults to "now", so
			// the time is not compared) is a no-op.
			var a, b map[string]any
			_ = json.Unmarshal(prev, &a)
			_ = json.Unmarshal(payload, &b)
			delete(a, "at")
			delete(b, "at")
			if fmt.Sprint(a) == fmt.Sprint(b) {
				return nil
			}
			return &FieldError{Field: "order_id", Msg: "already exists with other content", Err: ErrConflict}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cannot check manual sale: %w", err)
		}
		if m.CustomerID != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO customers (customer_id, first_seen_at) VALUES ($1, $2)
				ON CONFLICT (customer_id) DO NOTHING`, m.CustomerID, m.PlacedAt); err != nil {
				return fmt.Errorf("cannot create customer: %w", err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO orders (order_id, customer_id, currency, placed_at, manual, created_by)
			VALUES ($1, $2, $3, $4, true, $5)`, m.OrderID, nullStr(m.CustomerID), m.Currency, m.PlacedAt, nullID(adminID))
		if err != nil {
			return uniqueViolation(err, map[string]string{"orders_pkey": "order_id"})
		}
		for _, l := range m.Lines {
			if _, err := tx.Exec(ctx, `INSERT INTO order_lines (order_id, line_id, product_id, category_id, quantity,
				unit_price_minor, discount_minor) VALUES ($1, $2, $3, $4, $5, $6, $7)`, m.OrderID, l.LineID, l.ProductID,
				nullStr(l.CategoryID), l.Quantity, l.UnitPriceMinor, l.DiscountMinor); err != nil {
				return uniqueViolation(err, map[string]string{"order_lines_pkey": "lines", "discount": "discount"})
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO order_events (event_id, order_id, type, at, payload, applied_at)
			VALUES ($1, $2, 'order.placed', $3, $4, now())`, "manual:"+m.OrderID, m.OrderID, m.PlacedAt, payload); err != nil {
			return fmt.Errorf("cannot record manual order event: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO order_overrides (order_id, partner_id, reason, created_by) VALUES ($1, $2, 'manual sale', $3)`,
			m.OrderID, m.PartnerID, nullID(adminID))
		if err != nil {
			return fmt.Errorf("cannot record manual sale partner: %w", err)
		}
		return nil
	})
}

// OrderProducts lists, for a partner, the lines of orders placed by the
// partner's currently bound customers while bound to them, newest first.
// A claim must not open a customer's history: orders placed before the
// binding (bound_at; the binding is open, so not detached since) are left
// out, and so are orders credited to someone else — the current
// attribution, or the latest admin override still waiting for the
// settlement pass, names another partner or none.
func (s *Storage) OrderProducts(ctx context.Context, partnerID int64, pg Page) ([]CustomerLine, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT o.order_id, o.customer_id, o.placed_at, o.currency, l.product_id,
			coalesce(p.name, ''), l.quantity, l.unit_price_minor * l.quantity - l.discount_minor
		FROM customer_bindings b
		JOIN orders o ON o.customer_id = b.customer_id AND o.placed_at >= b.bound_at
		JOIN order_lines l ON l.order_id = o.order_id
		LEFT JOIN products p ON p.product_id = l.product_id
		WHERE b.partner_id = $1 AND b.detached_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM attributions a WHERE a.order_id = o.order_id
				AND a.superseded_at IS NULL AND a.partner_id IS DISTINCT FROM b.partner_id)
			AND NOT EXISTS (SELECT 1 FROM (SELECT v.partner_id FROM order_overrides v WHERE v.order_id = o.order_id
				ORDER BY v.id DESC LIMIT 1) last WHERE last.partner_id IS DISTINCT FROM b.partner_id)
		ORDER BY o.placed_at DESC, o.order_id, l.line_id LIMIT $2 OFFSET $3`, partnerID, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list customer products: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (CustomerLine, error) {
		var c CustomerLine
		if err := r.Scan(&c.OrderID, &c.CustomerID, &c.PlacedAt, &c.Currency, &c.ProductID, &c.ProductName, &c.Quantity, &c.BaseMinor); err != nil {
			return CustomerLine{}, fmt.Errorf("cannot read customer line: %w", err)
		}
		return c, nil
	})
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// CustomerLine is a product bought by a partner's bound customer.
type CustomerLine struct {
	OrderID     string
	CustomerID  string
	PlacedAt    time.Time
	Currency    string
	ProductID   string
	ProductName string
	Quantity    int64
	BaseMinor   int64
}
