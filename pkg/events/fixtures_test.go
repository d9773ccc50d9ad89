package events

import (
	"net/netip"
	"time"

	"github.com/openaff/affiliate/pkg/money"
)

var (
	eur = money.MustParseCurrency("EUR")
	jpy = money.MustParseCurrency("JPY")
	t0  = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
)

const (
	validOrderJSON = `{"v":1,"event_id":"evt-1","type":"order.placed","order_id":"o-1","at":"2026-11-25T10:00:00Z",` +
		`"customer_id":"c-1","device_token":"dt.abc","currency":"EUR",` +
		`"lines":[{"line_id":"l1","product_id":"p1","category_id":"shoes","quantity":2,"unit_price":"149.90","discount":"10.00"},` +
		`{"line_id":"l2","product_id":"p2","quantity":1,"unit_price":"5"}],"shipping_fee":"4.95"}`
	validIdentityJSON = `{"v":1,"event_id":"evt-9","at":"2026-11-25T10:00:00+01:00","device_token":"dt.abc","customer_id":"c-1","email":"a@example.com"}`
	validClickJSON    = `{"v":1,"click_id":"019ab9f0-7c1e-7cc2-8f3e-0123456789ab","at":"2026-11-25T10:00:00.5Z","device_token":"dt.abc",` +
		`"partner_id":"42","link_id":"7","kind":"link","target":"https://shop.example/p/1","product_id":"p1",` +
		`"referer":"https://blog.example/","user_agent":"Mozilla/5.0","ip":"203.0.113.0","bot":false,"repeat":false}`
	validCommissionJSON = `{"v":1,"event_id":"019ab9f0-7c1e-7cc2-8f3e-0123456789ab","at":"2026-11-25T10:00:00Z","commission_id":"cm-1",` +
		`"order_id":"o-1","line_id":"l1","partner_id":"42","currency":"EUR","amount":"28.98","state":"pending","base":"289.80"}`
	validStoreCreditJSON = `{"v":1,"event_id":"019ab9f0-7c1e-7cc2-8f3e-0123456789ab","at":"2026-11-25T10:00:00Z","request_id":"sc-1",` +
		`"partner_id":"42","customer_id":"c-1","currency":"JPY","amount":"1500"}`
	validDLQJSON = `{"v":1,"event_id":"019ab9f0-7c1e-7cc2-8f3e-0123456789ab","at":"2026-11-25T10:00:00Z","topic":"aff.orders",` +
		`"partition":3,"offset":1234,"reason":"lines[0].quantity: must be positive","payload":"eyJ2IjoxfQ=="}`
)

func sampleClick() Click {
	return Click{
		ClickID:     "019ab9f0-7c1e-7cc2-8f3e-0123456789ab",
		At:          t0,
		DeviceToken: "dt.abcdef0123456789",
		PartnerID:   "42",
		LinkID:      "7",
		Kind:        KindDeep,
		Target:      "https://shop.example/shoes/red?utm=x&y=<z>",
		ProductID:   "p1",
		CategoryID:  "shoes",
		Referer:     "https://blog.example/post?q=\"quoted\"",
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		IP:          netip.MustParseAddr("2001:db8:1::"),
		Bot:         false,
		Repeat:      true,
	}
}

func sampleOrder() Order {
	return Order{
		EventID: "evt-1", Type: OrderPlaced, OrderID: "o-1", At: t0, CustomerID: "c-1", DeviceToken: "dt.abc",
		Currency: eur,
		Lines: []Line{
			{LineID: "l1", ProductID: "p1", CategoryID: "shoes", Quantity: 2, UnitPriceMinor: 14990, DiscountMinor: 1000},
			{LineID: "l2", ProductID: "p2", Quantity: 1, UnitPriceMinor: 0},
		},
		ShippingFeeMinor: 495,
	}
}
