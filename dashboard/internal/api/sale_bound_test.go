package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// A manual sale whose commission the ledger would refuse would stop every
// settlement pass after it: refused, naming the field, at the bound
// streamed orders have (events.MaxAmountMinor, 2^49 minor units).
func TestParseSaleAmountBound(t *testing.T) {
	f := func(lines, wantField string) {
		t.Helper()
		var in SaleInput
		if err := json.Unmarshal([]byte(`{"order_id":"o1","partner_id":1,"lines":`+lines+`}`), &in); err != nil {
			t.Fatal(err)
		}
		_, err := ParseSale(in, "EUR")
		msg, _ := BadRequestMessage(err)
		if wantField == "" {
			if err != nil {
				t.Fatalf("%s: %v", lines, err)
			}
			return
		}
		if !strings.HasPrefix(msg, wantField+" ") || !strings.Contains(msg, "largest amount") {
			t.Fatalf("%s: error %q, want one naming %s", lines, msg, wantField)
		}
	}
	// 2^49 minor units = 5629499534213.12 EUR.
	f(`[{"product_id":"p","quantity":1,"unit_price":"5629499534213.12"}]`, "")
	f(`[{"product_id":"p","quantity":1,"unit_price":"5629499534213.13"}]`, "lines[0].quantity")
	f(`[{"product_id":"p","quantity":1000000,"unit_price":"90000000.00"}]`, "lines[0].quantity")
	f(`[{"product_id":"p","quantity":1,"unit_price":"3000000000000.00"},{"product_id":"q","quantity":1,"unit_price":"3000000000000.00"}]`, "lines")
	f(`[{"product_id":"p","quantity":1,"unit_price":"3000000000000.00"},{"product_id":"q","quantity":1,"unit_price":"3000000000000.00","discount":"400000000000.00"}]`, "")
}
