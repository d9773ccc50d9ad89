package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) {
	// The test binary acts as the dashboard command when asked to, so that
	// TestExitCodes can run the real main in a child process.
	if os.Getenv("DASHBOARD_TEST_MAIN") == "1" {
		os.Args = append([]string{"dashboard"}, strings.Fields(os.Getenv("DASHBOARD_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(testenv.Main(m))
}

// TestExitCodes: bad usage and bad configuration exit 2, naming what is wrong.
func TestExitCodes(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"", "usage"},
		{"bogus", "usage"},
		{"serve", "AFF_POSTGRES_URL"},
	} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = []string{"DASHBOARD_TEST_MAIN=1", "DASHBOARD_TEST_ARGS=" + c.args, "PATH=" + os.Getenv("PATH")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("dashboard %q: %v, stderr %q; want exit 2 mentioning %s", c.args, err, stderr.String(), c.want)
		}
	}
}

func TestCreateAdmin(t *testing.T) {
	url := testenv.Get(t).PostgresURL(t)
	t.Setenv("AFF_POSTGRES_URL", url)
	ctx := context.Background()
	var out bytes.Buffer
	// From stdin, with a low cost to keep the test fast.
	if err := createAdmin(ctx, []string{"--email", "boss@example.com", "--bcrypt-cost", "4"}, strings.NewReader("first-password-1\n"), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "admin boss@example.com ready") {
		t.Fatalf("output = %q", out.String())
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := storage.New(pool)
	u, err := st.UserByEmail(ctx, "boss@example.com")
	if err != nil || u.Role != "admin" || !(auth.Hasher{}).Check(u.PasswordHash, "first-password-1") {
		t.Fatalf("admin = %+v, %v", u, err)
	}
	// From a file: resets the password of the same admin.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("second-password-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := createAdmin(ctx, []string{"--email", "boss@example.com", "--password-file", pw, "--bcrypt-cost", "4"}, strings.NewReader(""), io.Discard); err != nil {
		t.Fatal(err)
	}
	u2, _ := st.UserByEmail(ctx, "boss@example.com")
	if u2.ID != u.ID || !(auth.Hasher{}).Check(u2.PasswordHash, "second-password-2") {
		t.Fatal("password was not reset in place")
	}
	// Refused: short password, no e-mail, a partner's e-mail.
	if err := createAdmin(ctx, []string{"--email", "x@example.com", "--bcrypt-cost", "4"}, strings.NewReader("short\n"), io.Discard); err == nil {
		t.Error("short password accepted")
	}
	if err := createAdmin(ctx, []string{"--bcrypt-cost", "4"}, strings.NewReader("long-enough-pw\n"), io.Discard); err == nil {
		t.Error("missing --email accepted")
	}
	p, _ := st.CreatePartner(ctx, storage.Partner{Name: "P", Email: "p@example.com", Slug: "p", DefaultRateUPct: -1})
	h, _ := auth.Hasher{Cost: 4}.Hash("partner-password")
	if _, err := st.CreatePartnerUser(ctx, p.ID, "p@example.com", h); err != nil {
		t.Fatal(err)
	}
	if err := createAdmin(ctx, []string{"--email", "p@example.com", "--bcrypt-cost", "4"}, strings.NewReader("long-enough-pw\n"), io.Discard); err == nil {
		t.Error("a partner's e-mail became an admin")
	}
}

func TestServe(t *testing.T) {
	env := testenv.Get(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("AFF_POSTGRES_URL", env.PostgresURL(t))
	t.Setenv("AFF_CLICKHOUSE_ADDR", "127.0.0.1:1") // charts degrade, the panel still serves
	t.Setenv("AFF_SHOP_URL", "https://shop.example/")
	t.Setenv("AFF_ADMIN_TOKEN", "serve-test-token-0123456789")
	t.Setenv("AFF_DASHBOARD_ADDR", addr)
	t.Setenv("AFF_TRACKER_PUBLIC_URL", "https://go.example/")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	var resp *http.Response
	for i := 0; i < 100; i++ { // up to 10 s for migrations and start
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("serve did not answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/admin/program", nil)
	req.Header.Set("Authorization", "Bearer serve-test-token-0123456789")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("api with token: %v %v", err, resp)
	}
	resp.Body.Close()
	if resp, err = http.Get("http://" + addr + "/api/openapi.yaml"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("openapi.yaml: %v %v", err, resp)
	}
	spec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasPrefix(spec, []byte("openapi: 3")) {
		t.Fatalf("served spec starts %q", spec[:20])
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func TestServeNeedsConfig(t *testing.T) {
	for _, k := range []string{"AFF_POSTGRES_URL", "AFF_CLICKHOUSE_ADDR", "AFF_SHOP_URL", "AFF_ADMIN_TOKEN"} {
		t.Setenv(k, "")
	}
	err := serve(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "AFF_ADMIN_TOKEN") || !strings.Contains(err.Error(), "AFF_POSTGRES_URL") {
		t.Fatalf("serve without config: %v", err)
	}
	t.Setenv("AFF_TRACKER_PUBLIC_URL", "ftp://x")
	t.Setenv("AFF_POSTGRES_URL", "postgres://x/y")
	t.Setenv("AFF_CLICKHOUSE_ADDR", "127.0.0.1:1")
	t.Setenv("AFF_SHOP_URL", "https://shop.example/")
	t.Setenv("AFF_ADMIN_TOKEN", "short")
	if err := serve(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "AFF_ADMIN_TOKEN") {
		t.Fatalf("short admin token: %v", err)
	}
	t.Setenv("AFF_ADMIN_TOKEN", "a-long-enough-admin-token")
	if err := serve(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "AFF_TRACKER_PUBLIC_URL") {
		t.Fatalf("bad tracker URL: %v", err)
	}
}
