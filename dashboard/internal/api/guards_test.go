package api

import (
	"strconv"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// TestApproveUnsettledOrder: an approval racing a cancellation, through the API. A
// 10.00 commission is pending, the shop cancels (the order is queued for
// the settlement pass): approving by order is a 409, by ids it is skipped,
// and the balance does not move.
func TestApproveUnsettledOrder(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Ayla", "ayla")
	cid := f.seedOrder("o-1", pid, 1000)
	if _, err := f.pool.Exec(t.Context(), `UPDATE orders SET cancelled_at = now(), status = 'cancelled', revision = revision + 1
		WHERE order_id = 'o-1'`); err != nil {
		t.Fatal(err)
	}
	f.expect("POST", "/api/admin/commissions/approve", `{"order_id":"o-1"}`, 409, "order_id")
	out := f.expect("POST", "/api/admin/commissions/approve", `{"ids":[`+strconv.FormatInt(cid, 10)+`]}`, 200, "")
	if out["approved"].(float64) != 0 || out["skipped"].(float64) != 1 {
		t.Fatalf("approve by ids = %v, want approved 0, skipped 1", out)
	}
	bal := f.expect("GET", "/api/admin/partners/"+strconv.FormatInt(pid, 10)+"/balance", "", 200, "")
	if bal["pending"] != "10.00" || bal["available"] != "0.00" || bal["reserved"] != "0.00" {
		t.Fatalf("balance after refused approvals = %v", bal)
	}
}

// TestProgramCurrencyLocked: once money exists the currency is fixed (409
// on currency), other settings still change; a manual sale in another
// currency is a 400 on currency.
func TestProgramCurrencyLocked(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Ayla", "ayla")
	f.seedOrder("o-1", pid, 1000)
	f.expect("PUT", "/api/admin/program", `{"currency":"USD"}`, 409, "currency")
	out := f.expect("PUT", "/api/admin/program", `{"currency":"EUR","min_payout":"42.00"}`, 200, "")
	if out["currency"] != "EUR" || out["min_payout"] != "42.00" {
		t.Fatalf("program = %v", out)
	}
	f.expect("POST", "/api/admin/orders", `{"order_id":"m-1","partner_id":`+strconv.FormatInt(pid, 10)+
		`,"currency":"USD","lines":[{"product_id":"p1","quantity":1,"unit_price":"10.00"}]}`, 400, "currency")
	f.expect("GET", "/api/admin/orders/m-1", "", 404, "")
}

// TestLinkCapAPI: an admin creating links for a partner is held to the same
// cap (a 409 on url); the partner's existing link is still returned.
func TestLinkCapAPI(t *testing.T) {
	f := newFixture(t)
	old := storage.MaxActiveLinksPerPartner
	storage.MaxActiveLinksPerPartner = 1
	t.Cleanup(func() { storage.MaxActiveLinksPerPartner = old })
	path := "/api/admin/partners/" + strconv.FormatInt(f.partner("Ayla", "ayla"), 10) + "/links"
	f.expect("POST", path, `{"url":"https://shop.example/p/1"}`, 201, "")
	f.expect("POST", path, `{"url":"https://shop.example/p/2"}`, 409, "url")
	f.expect("POST", path, `{"url":"https://shop.example/p/1"}`, 200, "")
}
