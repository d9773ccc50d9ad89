package api

import (
	"context"
	"testing"
)

// An order the settler decided after its maximum wait, without the clicks
// watermark past it, was flagged only in SQL (attributions.watermark_forced):
// the order API says so, and the list finds such orders for review.
func TestOrderWatermarkForced(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Ayla", "ayla")
	f.seedOrder("o-forced", pid, 500)
	f.seedOrder("o-waited", pid, 700)
	if _, err := f.pool.Exec(context.Background(), `UPDATE attributions SET watermark_forced = true WHERE order_id = 'o-forced'`); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"o-forced": true, "o-waited": false} {
		out := f.expect("GET", "/api/admin/orders/"+id, "", 200, "")
		if attr, _ := out["attribution"].(map[string]any); attr["watermark_forced"] != want {
			t.Errorf("%s: attribution = %v, want watermark_forced %v", id, attr, want)
		}
	}
	out := f.expect("GET", "/api/admin/orders?watermark_forced=true", "", 200, "")
	if os, _ := out["orders"].([]any); len(os) != 1 || os[0].(map[string]any)["order_id"] != "o-forced" {
		t.Errorf("orders with watermark_forced=true = %v, want o-forced alone", out["orders"])
	}
	out = f.expect("GET", "/api/admin/orders?watermark_forced=false", "", 200, "")
	if os, _ := out["orders"].([]any); len(os) != 1 || os[0].(map[string]any)["order_id"] != "o-waited" {
		t.Errorf("orders with watermark_forced=false = %v, want o-waited alone", out["orders"])
	}
	if os, _ := f.expect("GET", "/api/admin/orders", "", 200, "")["orders"].([]any); len(os) != 2 {
		t.Errorf("orders = %v, want both", os)
	}
	f.expect("GET", "/api/admin/orders?watermark_forced=yes", "", 400, "watermark_forced")
}
