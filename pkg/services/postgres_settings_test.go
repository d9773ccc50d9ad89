package services

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresExtraSettings: AFF_TEST_PG_SETTINGS reaches the server and
// wins over the helpers' own settings (the settler benchmark sizes
// shared_buffers with it).
func TestPostgresExtraSettings(t *testing.T) {
	t.Setenv(PostgresSettingsEnv, "shared_buffers=48MB work_mem=7MB")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Under /tmp, not t.TempDir(): as root the server runs as nobody, who
	// cannot enter the test's private temporary directory.
	dir, err := os.MkdirTemp("", "aff-pgsettings-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pg, err := StartPostgres(ctx, PostgresConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Kill()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for name, want := range map[string]string{"shared_buffers": "48MB", "work_mem": "7MB"} {
		var got string
		if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
}
