package settle

import (
	"fmt"
	"testing"
	"time"
)

// A line sent without a category takes its product's category from the
// catalog, so category rates apply; a category sent with the line wins.
func TestCategoryFromTheCatalog(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.exec(`INSERT INTO products (product_id, category_id, source) VALUES ('boot', 'shoes', 'import'), ('hat', 'hats', 'import')`)
	f.exec(`INSERT INTO commission_rates (category_id, rate_upct) VALUES ('shoes', 20000000), ('sale', 5000000)`)
	f.click("d1", p, T0.Add(-time.Hour))
	f.events(placed("e1", "o1", "c1", "d1", T0,
		line("l1", "boot", 1, "100.00"),
		line("l2", "hat", 1, "100.00"),
		`{"line_id":"l3","product_id":"boot","category_id":"sale","quantity":1,"unit_price":"100.00"}`))
	f.watermark(T0.Add(time.Minute))
	f.settle(T0.Add(time.Minute))
	// boot: the catalog's shoes, 20 %; hat: hats has no rate, the program's
	// 10 %; l3: its own category sale, 5 %.
	if got, want := f.commissions("o1"), fmt.Sprintf("l1:%[1]d:2000:pending:0:0 l2:%[1]d:1000:pending:0:0 l3:%[1]d:500:pending:0:0", p); got != want {
		t.Fatalf("commissions %q, want %q", got, want)
	}
	var rules string
	if err := f.pool.QueryRow(t.Context(), `SELECT string_agg(rate_rule, ' ' ORDER BY line_id) FROM commissions WHERE order_id = 'o1'`).Scan(&rules); err != nil || rules != "category program_default category" {
		t.Fatalf("rate rules %q %v", rules, err)
	}
	f.verify()
}
