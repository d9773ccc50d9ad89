package server

import "testing"

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
