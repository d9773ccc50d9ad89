package storage

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The partner links page lists the categories products know without
// reading every product: the products side of Categories probes the
// category index once per distinct category (a loose index scan). With
// 200 000 products in 40 categories, no plan node on products reads more
// than a few hundred rows (a DISTINCT read them all: 135-151 ms at a
// million products). Checked on the plan's row counts, not on a clock.
func TestCategoriesDoNotScanProducts(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	e.exec(`INSERT INTO products (product_id, category_id, source) SELECT 'p-'||i, 'cat-'||(i % 40), 'orders' FROM generate_series(1, 200000) i`)
	e.exec(`ANALYZE products`)
	cs, err := e.s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 40 || cs[0].ID != "cat-0" || cs[39].ID != "cat-9" {
		t.Fatalf("categories = %d (%+v), want the 40 of the products in id order", len(cs), cs)
	}
	rows, err := e.s.pool.Query(ctx, `EXPLAIN (ANALYZE) `+categoriesQuery, MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, l)
	}
	actual := regexp.MustCompile(`actual time=\S+ rows=(\d+) loops=(\d+)`)
	for _, l := range plan {
		m := actual.FindStringSubmatch(l)
		if m == nil || !strings.Contains(l, " on products") {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		loops, _ := strconv.Atoi(m[2])
		if n*loops > 1000 {
			t.Fatalf("a plan node on products reads %d rows:\n%s", n*loops, strings.Join(plan, "\n"))
		}
	}
}
