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

// A manual sale's ids are bounded as a streamed order's are (events:
// 1 to 128 bytes, no control characters, not only spaces), each refusal
// naming the field.
func TestParseSaleIDs(t *testing.T) {
	long := strings.Repeat("x", 129)
	f := func(body, wantField string) {
		t.Helper()
		var in SaleInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatal(err)
		}
		_, err := ParseSale(in, "EUR")
		msg, _ := BadRequestMessage(err)
		if wantField == "" {
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			return
		}
		if !strings.HasPrefix(msg, wantField+" ") {
			t.Fatalf("%s: error %q (%v), want one naming %s", body, msg, err, wantField)
		}
	}
	line := func(fields string) string {
		return `{"order_id":"o1","partner_id":1,"lines":[{` + fields + `"quantity":1,"unit_price":"1.00"}]}`
	}
	f(line(`"product_id":"`+long[:128]+`","line_id":"`+long[:128]+`","category_id":"`+long[:128]+`",`), "")
	f(`{"order_id":"`+long+`","partner_id":1,"lines":[{"product_id":"p","quantity":1,"unit_price":"1.00"}]}`, "order_id")
	f(`{"order_id":"o\u0007","partner_id":1,"lines":[{"product_id":"p","quantity":1,"unit_price":"1.00"}]}`, "order_id")
	f(`{"order_id":"o1","customer_id":"`+long+`","partner_id":1,"lines":[{"product_id":"p","quantity":1,"unit_price":"1.00"}]}`, "customer_id")
	f(line(`"product_id":"`+long+`",`), "lines[0].product_id")
	f(line(`"product_id":"  ",`), "lines[0].product_id")
	f(line(`"product_id":"p","line_id":"`+long+`",`), "lines[0].line_id")
	f(line(`"product_id":"p","category_id":"c\n",`), "lines[0].category_id")
	f(line(`"product_id":"p","category_id":"`+long+`",`), "lines[0].category_id")
	f(`{"order_id":"o1","partner_id":1,"lines":[{"product_id":"p","quantity":1,"unit_price":"1.00"},{"line_id":"1","product_id":"q","quantity":1,"unit_price":"1.00"}]}`, "lines[1].line_id")
}
