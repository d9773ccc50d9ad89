// Package catalog parses the admin's product catalog file (CSV or JSON).
package catalog

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// MaxProducts bounds one import.
const MaxProducts = 50000

// Parse reads products from r: JSON when the name ends in .json or the
// content starts with '[', CSV (with a header naming product_id, name,
// url, category_id in any order) otherwise. Every URL must pass m.
func Parse(name string, r io.Reader, m links.Maker) ([]storage.Product, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read file: %w", err)
	}
	if len(data) > 16<<20 {
		return nil, errors.New("file is larger than 16 MiB")
	}
	var ps []storage.Product
	trimmed := strings.TrimSpace(string(data))
	if strings.HasSuffix(strings.ToLower(name), ".json") || strings.HasPrefix(trimmed, "[") {
		ps, err = parseJSON(data)
	} else {
		ps, err = parseCSV(data)
	}
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, errors.New("the file holds no products")
	}
	if len(ps) > MaxProducts {
		return nil, fmt.Errorf("more than %d products in one file", MaxProducts)
	}
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		row := i + 1
		p.ID, p.Name, p.CategoryID, p.URL = strings.TrimSpace(p.ID), strings.TrimSpace(p.Name), strings.TrimSpace(p.CategoryID), strings.TrimSpace(p.URL)
		if p.ID == "" || len(p.ID) > 200 {
			return nil, fmt.Errorf("product %d: product_id must be 1 to 200 characters", row)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("product %d: product_id %q appears twice", row, p.ID)
		}
		seen[p.ID] = true
		if len(p.Name) > 500 || len(p.CategoryID) > 200 {
			return nil, fmt.Errorf("product %d: name or category_id is too long", row)
		}
		if p.URL != "" {
			u, err := m.CheckTarget(p.URL)
			if err != nil {
				return nil, fmt.Errorf("product %d: url %v", row, err)
			}
			p.URL = u
		}
	}
	return ps, nil
}

func parseJSON(data []byte) ([]storage.Product, error) {
	var in []struct {
		ProductID  string `json:"product_id"`
		Name       string `json:"name"`
		URL        string `json:"url"`
		CategoryID string `json:"category_id"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("not a JSON array of products: %w", err)
	}
	out := make([]storage.Product, len(in))
	for i, p := range in {
		out[i] = storage.Product{ID: p.ProductID, Name: p.Name, URL: p.URL, CategoryID: p.CategoryID}
	}
	return out, nil
}

func parseCSV(data []byte) ([]storage.Product, error) {
	cr := csv.NewReader(strings.NewReader(string(data)))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("cannot read the CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["product_id"]; !ok {
		return nil, errors.New("the CSV header must name a product_id column")
	}
	get := func(rec []string, k string) string {
		if i, ok := col[k]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var out []storage.Product
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("CSV line %d: %w", line, err)
		}
		if len(out) >= MaxProducts {
			return nil, fmt.Errorf("more than %d products in one file", MaxProducts)
		}
		out = append(out, storage.Product{ID: get(rec, "product_id"), Name: get(rec, "name"), URL: get(rec, "url"), CategoryID: get(rec, "category_id")})
	}
}
