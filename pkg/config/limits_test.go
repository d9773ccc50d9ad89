package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTopicPrefixContract(t *testing.T) {
	f := func(kv map[string]string, want, wantErr string) {
		t.Helper()
		c, err := Load(env(kv))
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), KafkaTopicPrefix) || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("Load(%q) = %v, want an error naming %s with %q", kv, err, KafkaTopicPrefix, wantErr)
			}
			return
		}
		if err != nil || c.KafkaTopicPrefix != want {
			t.Errorf("Load(%q) prefix = %v, %v; want %q", kv, c, err, want)
		}
	}
	f(nil, "aff.", "") // unset: the default
	f(map[string]string{KafkaTopicPrefix: "shop1."}, "shop1.", "")
	f(map[string]string{KafkaTopicPrefix: ""}, "", "set but empty") // used to become "aff." silently
	f(map[string]string{KafkaTopicPrefix: "  "}, "", "set but empty")
	f(map[string]string{KafkaTopicPrefix: "a/b."}, "", "Kafka topic names")
}

func TestClickHouseAddrContract(t *testing.T) {
	c, err := Load(env(map[string]string{ClickHouseAddr: "ch1:9000"}))
	if err != nil || c.ClickHouseAddr != "ch1:9000" {
		t.Fatalf("one address: %v, %v", c, err)
	}
	// A list used to keep its first address silently.
	_, err = Load(env(map[string]string{ClickHouseAddr: "ch1:9000,ch2:9000"}))
	if err == nil || !strings.Contains(err.Error(), ClickHouseAddr) || !strings.Contains(err.Error(), "2 addresses") {
		t.Fatalf("Load with two ClickHouse addresses = %v, want an error naming %s", err, ClickHouseAddr)
	}
}

func TestShopAPIKeysContract(t *testing.T) {
	c, err := Load(env(map[string]string{ShopAPIKeys: "0123456789abcdef, fedcba9876543210fedc"}))
	if err != nil || !reflect.DeepEqual(c.ShopAPIKeys, []string{"0123456789abcdef", "fedcba9876543210fedc"}) {
		t.Fatalf("keys of 16 and 20 bytes: %v, %v", c, err)
	}
	_, err = Load(env(map[string]string{ShopAPIKeys: "0123456789abcdef,short-key"}))
	if err == nil || !strings.Contains(err.Error(), ShopAPIKeys) || !strings.Contains(err.Error(), "at least 16 bytes") {
		t.Fatalf("Load with a short key = %v, want an error naming %s", err, ShopAPIKeys)
	}
	if strings.Contains(err.Error(), "short-key") {
		t.Fatalf("error %q echoes the key", err)
	}
}
