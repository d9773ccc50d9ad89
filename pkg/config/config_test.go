package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{ShopURL: "https://Shop.example.com/"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.KafkaTopicPrefix != "aff." || c.ClickHouseDB != "affiliate" {
		t.Errorf("defaults: prefix %q db %q, want aff. and affiliate", c.KafkaTopicPrefix, c.ClickHouseDB)
	}
	if c.TrackerAddr != "127.0.0.1:8080" || c.DashboardAddr != "127.0.0.1:8081" {
		t.Errorf("default addrs: %q %q", c.TrackerAddr, c.DashboardAddr)
	}
	if !reflect.DeepEqual(c.AllowedHosts, []string{"shop.example.com"}) {
		t.Errorf("AllowedHosts = %q, want the shop's host", c.AllowedHosts)
	}
	if got := c.Topic("clicks"); got != "aff.clicks" {
		t.Errorf("Topic(clicks) = %q, want aff.clicks", got)
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load(env(map[string]string{
		KafkaBrokers:   " 127.0.0.1:9092, [::1]:9093 ",
		PostgresURL:    "postgres://u@localhost:5432/aff",
		ClickHouseAddr: "127.0.0.1:9000",
		ShopURL:        "https://shop.example.com",
		AllowedHosts:   "Shop.example.com,cdn.example.com",
		CookieSecret:   "0123456789abcdef0123,fedcba9876543210fedc",
		CookieSecure:   "true",
		ShopAPIKeys:    "shop-key-1-0123456789,shop-key-2-0123456789",
		AdminToken:     "admintoken",
		SpoolDir:       "/var/spool/aff",
	}), TrackerServeRequired...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(c.KafkaBrokers, []string{"127.0.0.1:9092", "[::1]:9093"}) {
		t.Errorf("KafkaBrokers = %q", c.KafkaBrokers)
	}
	if len(c.CookieSecrets) != 2 || string(c.CookieSecrets[0]) != "0123456789abcdef0123" {
		t.Errorf("CookieSecrets not parsed in order: %d", len(c.CookieSecrets))
	}
	if !c.CookieSecure || len(c.ShopAPIKeys) != 2 {
		t.Errorf("CookieSecure %v, keys %d", c.CookieSecure, len(c.ShopAPIKeys))
	}
	if !reflect.DeepEqual(c.AllowedHosts, []string{"shop.example.com", "cdn.example.com"}) {
		t.Errorf("AllowedHosts = %q", c.AllowedHosts)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	f := func(kv map[string]string, required []string, wantNames ...string) {
		t.Helper()
		_, err := Load(env(kv), required...)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Load(%v) error = %v, want *Error", kv, err)
		}
		for _, name := range wantNames {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Load(%v) = %q, want it to name %s", kv, err, name)
			}
		}
		if len(ce.Problems) != len(wantNames) {
			t.Errorf("Load(%v) problems = %q, want %d", kv, ce.Problems, len(wantNames))
		}
	}
	// Every missing required variable is reported at once.
	f(nil, TrackerSinkRequired, KafkaBrokers, PostgresURL, ClickHouseAddr)
	// Blank counts as missing.
	f(map[string]string{PostgresURL: "  "}, []string{PostgresURL}, PostgresURL)
	// Malformed values are errors even when optional.
	f(map[string]string{KafkaBrokers: "localhost"}, nil, KafkaBrokers)
	f(map[string]string{KafkaBrokers: "h:99999"}, nil, KafkaBrokers)
	f(map[string]string{PostgresURL: "mysql://x"}, nil, PostgresURL)
	f(map[string]string{ShopURL: "shop.example.com"}, nil, ShopURL)
	f(map[string]string{ShopURL: "javascript:alert(1)"}, nil, ShopURL)
	f(map[string]string{CookieSecure: "yes please"}, nil, CookieSecure)
	f(map[string]string{CookieSecret: "short"}, nil, CookieSecret)
	f(map[string]string{ClickHouseDB: "a;drop"}, nil, ClickHouseDB)
	f(map[string]string{TrackerAddr: "8080"}, nil, TrackerAddr)
}

func TestSecretNeverEchoed(t *testing.T) {
	_, err := Load(env(map[string]string{CookieSecret: "hunter2"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v must reject and must not echo the secret", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("127.0.0.1:9092", "https://shop.example.com", "true", "0123456789abcdef0123")
	f.Add(",,", "http://[::1]:80/x", "0", "")
	f.Fuzz(func(t *testing.T, brokers, shop, secure, secret string) {
		c, err := Load(env(map[string]string{KafkaBrokers: brokers, ShopURL: shop, CookieSecure: secure, CookieSecret: secret}))
		if err == nil && c.ShopURL != nil && c.ShopURL.Host == "" {
			t.Fatalf("accepted shop url without host: %q", shop)
		}
	})
}
