package api

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/events"
)

// FuzzParseSale feeds arbitrary JSON to the manual-sale decoder: it never
// panics, and what it accepts is within the schema's limits.
func FuzzParseSale(f *testing.F) {
	f.Add(`{"order_id":"o1","partner_id":1,"lines":[{"product_id":"p","quantity":2,"unit_price":"9.99","discount":"1.00"}]}`)
	f.Add(`{"order_id":"o1","partner_id":"7","currency":"JPY","lines":[{"product_id":"p","quantity":1,"unit_price":"100"}]}`)
	f.Add(`{"lines":[{}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in SaleInput
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if err := decode(r, &in); err != nil {
			if _, ok := BadRequestMessage(err); !ok {
				t.Fatalf("decode(%q) error %v is not a field error", body, err)
			}
			return
		}
		m, err := ParseSale(in, "EUR")
		if err != nil {
			return
		}
		if m.PartnerID <= 0 || m.OrderID == "" || len(m.Lines) == 0 || len(m.Lines) > MaxSaleLines {
			t.Fatalf("accepted %+v", m)
		}
		// Ids are what a streamed order may carry (pkg/events).
		ids := map[string]string{"order_id": m.OrderID, "customer_id": m.CustomerID}
		for i, l := range m.Lines {
			ids[fmt.Sprintf("lines[%d].line_id", i)] = l.LineID
			ids[fmt.Sprintf("lines[%d].product_id", i)] = l.ProductID
			ids[fmt.Sprintf("lines[%d].category_id", i)] = l.CategoryID
		}
		for field, id := range ids {
			if err := events.CheckOptionalID(field, id); err != nil {
				t.Fatalf("accepted %s %q, which a streamed order may not carry: %v", field, id, err)
			}
		}
		var sum int64
		for _, l := range m.Lines {
			if l.Quantity <= 0 || l.UnitPriceMinor < 0 || l.DiscountMinor < 0 || l.UnitPriceMinor > events.MaxAmountMinor/l.Quantity ||
				l.DiscountMinor > l.UnitPriceMinor*l.Quantity {
				t.Fatalf("accepted line %+v", l)
			}
			sum += l.UnitPriceMinor*l.Quantity - l.DiscountMinor
		}
		if sum > events.MaxAmountMinor {
			t.Fatalf("accepted lines worth %d minor units in all", sum)
		}
	})
}

// FuzzApplyProgramPatch: whatever the PUT body, accepted settings satisfy
// the schema's CHECK constraints (so the UPDATE cannot fail half-way).
func FuzzApplyProgramPatch(f *testing.F) {
	f.Add(`{"default_rate":"12.5","attribution_window":"720h","reserve_period":"0s","min_payout":"5.00","currency":"JPY"}`)
	f.Add(`{"binding_window":"-1h"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in ProgramPatch
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		base := storage.Program{DefaultRateUPct: 10000000, AttributionWindow: 365 * 24 * 3600e9, AttributionModel: "last_click",
			BindingWindow: 24 * 3600e9, ReserveUPct: 10000000, ReservePeriod: 30 * 24 * 3600e9, Currency: "EUR"}
		p, err := ApplyProgramPatch(base, in)
		if err != nil {
			return
		}
		if p.DefaultRateUPct < 0 || p.DefaultRateUPct > 100000000 || p.ReserveUPct < 0 || p.ReserveUPct > 100000000 ||
			p.AttributionWindow <= 0 || p.BindingWindow <= 0 || p.ReservePeriod < 0 || p.AutoApproveAfter < 0 ||
			p.MinPayoutMinor < 0 || len(p.Currency) != 3 ||
			(p.AttributionModel != "last_click" && p.AttributionModel != "first_click") {
			t.Fatalf("accepted %+v from %q", p, body)
		}
	})
}
