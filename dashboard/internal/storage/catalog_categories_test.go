package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestCategoriesIncludeProductCategories: the settler records the
// categories it sees in orders only as products.category_id, so without an
// imported catalog the categories table is empty; Categories lists both,
// each id once (with the table's name), sorted and bounded.
func TestCategoriesIncludeProductCategories(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	// As the settler writes them (settler/internal/ingest/bulk.go).
	e.exec(`INSERT INTO products (product_id, category_id, source) VALUES
		('sku-stove', 'stoves', 'orders'), ('sku-pan', 'pans', 'orders'), ('sku-pan-2', 'pans', 'orders'),
		('sku-misc', NULL, 'orders'), ('sku-boot', 'shoes', 'orders')`)
	e.exec(`INSERT INTO categories (category_id, name, source) VALUES ('shoes', 'Shoes', 'import'), ('bags', '', 'import')`)
	got, err := e.s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Category{{ID: "bags"}, {ID: "pans"}, {ID: "shoes", Name: "Shoes"}, {ID: "stoves"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Categories() = %+v, want %+v", got, want)
	}

	// Bounded: more ids than a page lists the first MaxPageSize by id.
	ids := make([]string, 0, MaxPageSize+50)
	for i := range MaxPageSize + 50 {
		ids = append(ids, fmt.Sprintf("c%04d", i))
	}
	e.exec(`INSERT INTO products (product_id, category_id, source) SELECT 'p-'||c, c, 'orders' FROM unnest($1::text[]) AS c`, ids)
	got, err = e.s.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxPageSize || got[0].ID != "bags" || got[len(got)-1].ID != ids[MaxPageSize-2] {
		t.Fatalf("Categories() with %d ids: %d listed, first %q, last %q; want %d, bags .. %s",
			len(ids)+4, len(got), got[0].ID, got[len(got)-1].ID, MaxPageSize, ids[MaxPageSize-2])
	}
	if !slices.IsSortedFunc(got, func(a, b Category) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatal("Categories() is not sorted by id")
	}
}
