package server

import (
	"strings"
	"testing"
)

// The auth scheme is case-insensitive (RFC 7235 §2.1); the key is not.
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	s, _ := newTestServer(t)
	body := `{"v":1,"event_id":"e1","at":"2026-01-02T03:04:05Z","device_token":"tok","customer_id":"c1"}`
	f := func(auth string, want int) {
		t.Helper()
		if r := do(s, "POST", "/v1/identify", map[string]string{"Authorization": auth}, body); r.status != want {
			t.Errorf("Authorization %q = %d %s, want %d", auth, r.status, r.body, want)
		}
	}
	f("bearer shop-key-1", 202)
	f("BEARER shop-key-1", 202)
	f("bEaReR shop-key-2", 202)
	f("Bearer  shop-key-1", 202) // 1*SP
	f("Bearer shop-key-1", 202)
	f("bearer SHOP-KEY-1", 401) // keys are compared exactly
	f("bearer", 401)
	f("bearer ", 401)
	f("bearershop-key-1", 401)
	f("Basic shop-key-1", 401)
	f("bearex shop-key-1", 401)
}

// /v1 takes what a shop submits now (pkg/events' strict decoders): lines on
// an order.cancelled and "" in an optional field are refused naming the
// field, which Kafka's readers still accept from older events.
func TestSubmissionsAreStrict(t *testing.T) {
	s, _ := newTestServer(t)
	auth := map[string]string{"Authorization": "Bearer shop-key-1"}
	f := func(path, body string, want int, field string) {
		t.Helper()
		r := do(s, "POST", path, auth, body)
		if r.status != want || !strings.Contains(r.body, `"field":"`+field+`"`) {
			t.Errorf("POST %s %s = %d %s, want %d naming %s", path, body, r.status, r.body, want, field)
		}
	}
	f("/v1/orders", `{"v":1,"event_id":"e1","type":"order.cancelled","order_id":"o1","at":"2026-01-02T03:04:05Z","currency":"EUR",`+
		`"lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":"1.00"}]}`, 400, "lines")
	f("/v1/identify", `{"v":1,"event_id":"e2","at":"2026-01-02T03:04:05Z","device_token":"tok","customer_id":"c1","email":""}`, 400, "email")
}
