// Package migrate applies the versioned schema migrations embedded in the
// binaries: Postgres through goose (advisory-locked, so two processes may run
// it at once) and ClickHouse through a small runner of idempotent statements.
package migrate

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres clickhouse
var files embed.FS

// PostgresFS returns the embedded Postgres migration files.
func PostgresFS() fs.FS { return mustSub("postgres") }

// ClickHouseFS returns the embedded ClickHouse migration files.
func ClickHouseFS() fs.FS { return mustSub("clickhouse") }

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic("BUG: embedded migrations missing: " + err.Error())
	}
	return sub
}

// Postgres applies every pending Postgres migration to the database at
// databaseURL. Concurrent callers serialise on a session advisory lock;
// migrations from disjoint version ranges may land out of order.
func Postgres(ctx context.Context, databaseURL string) error {
	_, err := PostgresWithLog(ctx, databaseURL, nil)
	return err
}

// PostgresWithLog is Postgres that also reports each applied version to log
// (nil: silent) and returns how many migrations were applied.
func PostgresWithLog(ctx context.Context, databaseURL string, log *slog.Logger) (int, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return 0, fmt.Errorf("cannot parse postgres url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return postgresUp(ctx, db, log)
}

func postgresUp(ctx context.Context, db *sql.DB, log *slog.Logger) (int, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, fmt.Errorf("cannot create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, PostgresFS(),
		goose.WithSessionLocker(locker),
		goose.WithAllowOutofOrder(true),
		goose.WithDisableGlobalRegistry(true),
	)
	if errors.Is(err, goose.ErrNoMigrations) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot load postgres migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot apply postgres migrations: %w", err)
	}
	for _, r := range results {
		if log != nil {
			log.Info("postgres migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return len(results), nil
}
