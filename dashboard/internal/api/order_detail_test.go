package api

import (
	"context"
	"testing"
)

// An order the settler flagged as a self-referral (the customer is the
// attributed partner's own shop account) says so, and an order without
// commissions or candidates has them as empty arrays rather than leaving
// the keys out (a client reading out["commissions"] crashed).
func TestOrderDetailSelfReferralAndEmptyArrays(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Ayla", "ayla")
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ('o-self', 'c-self', 'EUR', now())`,
		`DELETE FROM settle_queue WHERE order_id = 'o-self'`,
		`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o-self', '1', 'p1', 1, 1000)`,
	} {
		if _, err := f.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO attributions (order_id, version, partner_id, rule, click_id, self_referral) VALUES ('o-self', 1, $1, 'device', '01890000-0000-7000-8000-000000000002', true)`, pid); err != nil {
		t.Fatal(err)
	}
	out := f.expect("GET", "/api/admin/orders/o-self", "", 200, "")
	attr, _ := out["attribution"].(map[string]any)
	if attr["self_referral"] != true {
		t.Errorf("attribution = %v, want self_referral true", attr)
	}
	if c, ok := attr["candidates"].([]any); !ok || len(c) != 0 {
		t.Errorf("candidates = %#v, want []", attr["candidates"])
	}
	if c, ok := out["commissions"].([]any); !ok || len(c) != 0 {
		t.Errorf("commissions = %#v, want []", out["commissions"])
	}
	if l, ok := out["lines"].([]any); !ok || len(l) != 1 {
		t.Errorf("lines = %#v, want one", out["lines"])
	}
	// Not flagged: false, present.
	f.seedOrder("o-2", pid, 500)
	out = f.expect("GET", "/api/admin/orders/o-2", "", 200, "")
	if attr, _ := out["attribution"].(map[string]any); attr["self_referral"] != false {
		t.Errorf("attribution = %v, want self_referral false", attr)
	}
}
