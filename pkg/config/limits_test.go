package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTopicPrefixLimits(t *testing.T) {
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
	// Empty is the default, as deploy/kafka/topics.sh reads it.
	f(map[string]string{KafkaTopicPrefix: ""}, "aff.", "")
	f(map[string]string{KafkaTopicPrefix: "  "}, "aff.", "")
	f(map[string]string{KafkaTopicPrefix: "a/b."}, "", "Kafka topic names")
}

// Where a binary requires ClickHouse it dials one address: a list, whose
// first address used to be kept silently, is refused. A binary that does
// not dial ClickHouse (tracker serve) is not stopped by a shared
// environment holding a list.
func TestClickHouseAddrLimits(t *testing.T) {
	c, err := Load(env(map[string]string{ClickHouseAddr: "ch1:9000"}), ClickHouseAddr)
	if err != nil || c.ClickHouseAddr != "ch1:9000" {
		t.Fatalf("one address: %v, %v", c, err)
	}
	two := env(map[string]string{ClickHouseAddr: "ch1:9000,ch2:9000"})
	_, err = Load(two, ClickHouseAddr)
	if err == nil || !strings.Contains(err.Error(), ClickHouseAddr) || !strings.Contains(err.Error(), "2 addresses") {
		t.Fatalf("Load with two ClickHouse addresses = %v, want an error naming %s", err, ClickHouseAddr)
	}
	if c, err := Load(two); err != nil || c.ClickHouseAddr != "ch1:9000" {
		t.Fatalf("two addresses where ClickHouse is not required: %v, %v; want no error", c, err)
	}
}

// Shop keys are at least 16 bytes where they are required (tracker serve);
// the binaries that ignore them are not stopped by a short one.
func TestShopAPIKeysLimits(t *testing.T) {
	c, err := Load(env(map[string]string{ShopAPIKeys: "0123456789abcdef, fedcba9876543210fedc"}), ShopAPIKeys)
	if err != nil || !reflect.DeepEqual(c.ShopAPIKeys, []string{"0123456789abcdef", "fedcba9876543210fedc"}) {
		t.Fatalf("keys of 16 and 20 bytes: %v, %v", c, err)
	}
	short := env(map[string]string{ShopAPIKeys: "0123456789abcdef,short-key"})
	_, err = Load(short, ShopAPIKeys)
	if err == nil || !strings.Contains(err.Error(), ShopAPIKeys) || !strings.Contains(err.Error(), "at least 16 bytes") {
		t.Fatalf("Load with a short key = %v, want an error naming %s", err, ShopAPIKeys)
	}
	if strings.Contains(err.Error(), "short-key") {
		t.Fatalf("error %q echoes the key", err)
	}
	if _, err := Load(short, PostgresURL); err == nil || strings.Contains(err.Error(), ShopAPIKeys) {
		t.Fatalf("a binary without shop keys: %v, want only the missing %s", err, PostgresURL)
	}
}
