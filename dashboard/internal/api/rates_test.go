package api

import (
	"context"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// rateList reads GET /api/admin/rates as "product:<id>=<rate>" and
// "category:<id>=<rate>" strings, in the answer's order.
func (f *fixture) rateList(query string) ([]string, bool) {
	f.t.Helper()
	out := f.expect("GET", "/api/admin/rates"+query, "", 200, "")
	var got []string
	for _, x := range out["rates"].([]any) {
		m := x.(map[string]any)
		if p, ok := m["product_id"]; ok {
			got = append(got, "product:"+p.(string)+"="+m["rate"].(string))
		} else {
			got = append(got, "category:"+m["category_id"].(string)+"="+m["rate"].(string))
		}
	}
	return got, out["has_more"].(bool)
}

func TestProgramRates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got, more := f.rateList(""); len(got) != 0 || more {
		t.Fatalf("rates of a fresh program = %v, %v", got, more)
	}
	out := f.expect("PUT", "/api/admin/rates", `{"product_id":"p1","rate":"12.5"}`, 200, "")
	if out["product_id"] != "p1" || out["rate"] != "12.5" || out["category_id"] != nil {
		t.Fatalf("PUT answer = %v", out)
	}
	f.expect("PUT", "/api/admin/rates", `{"category_id":"shoes","rate":"5"}`, 200, "")
	// Setting again replaces (an upsert, not a second row).
	f.expect("PUT", "/api/admin/rates", `{"product_id":"p1","rate":"12.345678"}`, 200, "")
	want := []string{"product:p1=12.345678", "category:shoes=5"}
	if got, _ := f.rateList(""); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("rates = %v, want %v", got, want)
	}
	// Stored as integer micro-percent, without a partner.
	rs, err := f.store.RatesOf(ctx, 0)
	if err != nil || len(rs) != 2 || rs[0].RateUPct != 12_345_678 || rs[0].PartnerID != 0 || rs[1].RateUPct != 5_000_000 {
		t.Fatalf("RatesOf(0) = %+v, %v", rs, err)
	}

	// Bad input names the field and writes nothing.
	bad := func(body, field string) {
		t.Helper()
		f.expect("PUT", "/api/admin/rates", body, 400, field)
	}
	bad(`{"product_id":"p2","rate":"150"}`, "rate")                         // above 100 %
	bad(`{"product_id":"p2","rate":"-1"}`, "rate")                          // negative
	bad(`{"product_id":"p2","rate":"1.2345678"}`, "rate")                   // finer than a micro-percent
	bad(`{"product_id":"p2","rate":"ten"}`, "rate")                         // not a number
	bad(`{"product_id":"p2","rate":12}`, "rate")                            // a JSON number, never a float
	bad(`{"product_id":"p2"}`, "rate")                                      // missing
	bad(`{"rate":"10"}`, "product_id")                                      // no target
	bad(`{"product_id":"  ","rate":"10"}`, "product_id")                    // blank target
	bad(`{"product_id":"p2","category_id":"c","rate":"10"}`, "category_id") // two targets
	bad(`{"product_id":"`+strings.Repeat("x", 201)+`","rate":"10"}`, "product_id")
	bad(`{"product_id":"p\u0000","rate":"10"}`, "product_id")           // Postgres text cannot hold NUL
	bad(`{"product_id":"p2","rate":"10","partner_id":1}`, "partner_id") // not a partner rate
	bad(`{"product_id":"p2","rate":"10"} {}`, "body")
	if got, _ := f.rateList(""); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("rates after refused writes = %v, want %v", got, want)
	}

	// A partner's own rate for the same product is neither listed nor
	// removed here.
	pid := f.partner("Ayla", "ayla")
	if err := f.store.SetRate(ctx, storage.Rate{PartnerID: pid, ProductID: "p1", RateUPct: 20_000_000}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.rateList(""); len(got) != 2 {
		t.Fatalf("rates with a partner rate = %v", got)
	}
	out = f.expect("DELETE", "/api/admin/rates", `{"product_id":"p1"}`, 200, "")
	if out["product_id"] != "p1" || out["rate"] != nil {
		t.Fatalf("DELETE answer = %v", out)
	}
	if prs, _ := f.store.RatesOf(ctx, pid); len(prs) != 1 || prs[0].RateUPct != 20_000_000 {
		t.Fatalf("the partner's own rate = %+v", prs)
	}
	f.expect("DELETE", "/api/admin/rates", `{"product_id":"p1"}`, 404, "product_id") // already gone
	f.expect("DELETE", "/api/admin/rates", `{"category_id":"nope"}`, 404, "category_id")
	f.expect("DELETE", "/api/admin/rates", `{}`, 400, "product_id")
	f.expect("DELETE", "/api/admin/rates", `{"product_id":"a","category_id":"b"}`, 400, "category_id")
	if got, _ := f.rateList(""); strings.Join(got, " ") != "category:shoes=5" {
		t.Fatalf("rates after delete = %v", got)
	}

	// Pages.
	f.expect("PUT", "/api/admin/rates", `{"product_id":"p0","rate":"0"}`, 200, "")
	if got, more := f.rateList("?per_page=1"); strings.Join(got, " ") != "product:p0=0" || !more {
		t.Fatalf("page 1 = %v, %v", got, more)
	}
	if got, more := f.rateList("?per_page=1&page=2"); strings.Join(got, " ") != "category:shoes=5" || more {
		t.Fatalf("page 2 = %v, %v", got, more)
	}
	// Another method on the path is a JSON 405.
	f.expect("POST", "/api/admin/rates", `{}`, 405, "")
}
