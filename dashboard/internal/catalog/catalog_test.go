package catalog

import (
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/links"
)

var maker = links.Maker{AllowedHosts: []string{"shop.example"}}

func TestParse(t *testing.T) {
	f := func(name, in string, wantN int, wantErr string) {
		t.Helper()
		ps, err := Parse(name, strings.NewReader(in), maker)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("Parse(%q) error = %v, want %q", in, err, wantErr)
			}
			return
		}
		if err != nil || len(ps) != wantN {
			t.Errorf("Parse(%q) = %d products, %v; want %d", in, len(ps), err, wantN)
		}
	}
	f("c.csv", "product_id,name,url,category_id\np1,Shoe,https://shop.example/p1,shoes\np2,Hat,,hats\n", 2, "")
	f("c.csv", "name,product_id\nShoe,p1\n", 1, "") // any column order
	f("c.json", `[{"product_id":"p1","name":"Shoe","url":"https://shop.example/p1"}]`, 1, "")
	f("c.csv", "name\nShoe\n", 0, "product_id column")                             // no id column
	f("c.csv", "product_id,url\np1,https://evil.example/x\n", 0, "not an allowed") // foreign host
	f("c.csv", "product_id\np1\np1\n", 0, "appears twice")
	f("c.csv", "product_id\n", 0, "no products")
	f("c.json", `{"product_id":"p1"}`, 0, "JSON array")
}

func FuzzParse(f *testing.F) {
	f.Add("c.csv", "product_id,name\np1,x\n")
	f.Add("c.json", `[{"product_id":"p"}]`)
	f.Fuzz(func(t *testing.T, name, in string) {
		ps, err := Parse(name, strings.NewReader(in), maker)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.ID == "" || len(p.ID) > 200 {
				t.Fatalf("accepted bad product id %q", p.ID)
			}
		}
	})
}
