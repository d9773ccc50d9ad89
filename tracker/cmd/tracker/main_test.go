package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the tracker command when
// TRACKER_TEST_MAIN is set, so the tests below run the real main (exit
// codes, stderr) in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("TRACKER_TEST_MAIN") == "1" {
		os.Args = append([]string{"tracker"}, strings.Fields(os.Getenv("TRACKER_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tracker runs the command with args and only the given AFF_* variables.
func tracker(t *testing.T, args string, env ...string) (code int, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{"TRACKER_TEST_MAIN=1", "TRACKER_TEST_ARGS=" + args, "PATH=" + os.Getenv("PATH")}, env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), errb.String()
	default:
		t.Fatal(err)
		return 0, ""
	}
}

func TestUsage(t *testing.T) {
	for _, args := range []string{"", "bogus"} {
		code, stderr := tracker(t, args)
		if code != 2 || !strings.Contains(stderr, "usage: tracker <command>") || !strings.Contains(stderr, "sink") {
			t.Errorf("tracker %q: exit %d, stderr %q; want 2 and the usage", args, code, stderr)
		}
	}
}

// TestConfigErrorsNameTheVariable: serve and sink stop at once, with a
// message naming the missing or malformed variable, and never echo a secret.
func TestConfigErrorsNameTheVariable(t *testing.T) {
	full := []string{
		"AFF_POSTGRES_URL=postgres://u:pw@127.0.0.1:1/db",
		"AFF_KAFKA_BROKERS=127.0.0.1:1",
		"AFF_CLICKHOUSE_ADDR=127.0.0.1:1",
		"AFF_COOKIE_SECRET=" + strings.Repeat("s3cr3t", 6),
		"AFF_SHOP_URL=https://shop.example",
	}
	without := func(name string) []string {
		var env []string
		for _, kv := range full {
			if !strings.HasPrefix(kv, name+"=") {
				env = append(env, kv)
			}
		}
		return env
	}
	cases := []struct {
		args, want string
		env        []string
	}{
		{"serve", "AFF_POSTGRES_URL", without("AFF_POSTGRES_URL")},
		{"serve", "AFF_KAFKA_BROKERS", without("AFF_KAFKA_BROKERS")},
		{"serve", "AFF_COOKIE_SECRET", without("AFF_COOKIE_SECRET")},
		{"serve", "AFF_SHOP_URL", append(without("AFF_SHOP_URL"), "AFF_SHOP_URL=not a url")},
		{"sink", "AFF_CLICKHOUSE_ADDR", without("AFF_CLICKHOUSE_ADDR")},
		{"sink", "AFF_KAFKA_BROKERS", without("AFF_KAFKA_BROKERS")},
	}
	for _, c := range cases {
		code, stderr := tracker(t, c.args, c.env...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("tracker %s without a valid %s: exit %d, stderr %q; want exit 2 naming it", c.args, c.want, code, stderr)
		}
		if strings.Contains(stderr, "s3cr3t") || strings.Contains(stderr, ":pw@") {
			t.Errorf("tracker %s echoed a secret: %q", c.args, stderr)
		}
	}
}
