package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/services"
)

// templateDB holds every Postgres migration; each test's database is a copy.
const templateDB = "aff_template"

// PostgresLocaleEnv names the locale (collation and character classes) of
// the test databases: the server's C unless set. Managed Postgres services
// and the postgres image create databases in en_US.UTF-8, whose text
// comparisons are several times slower than C's (benchmarks measure the
// difference with AFF_TEST_PG_LOCALE=en_US.UTF-8; the OS must have the
// locale: localedef -i en_US -f UTF-8 en_US.UTF-8).
const PostgresLocaleEnv = "AFF_TEST_PG_LOCALE"

// CreateDatabaseSQL is the statement that creates an empty database name
// in locale ("": the server's, C).
func CreateDatabaseSQL(name, locale string) string {
	if locale == "" {
		return "CREATE DATABASE " + name
	}
	return "CREATE DATABASE " + name + " TEMPLATE template0 LOCALE '" + strings.ReplaceAll(locale, "'", "''") + "'"
}

type pgServer struct {
	srv *services.Postgres
	// mu serialises CREATE DATABASE: Postgres refuses to copy a template
	// that another session is copying at the same moment.
	mu sync.Mutex
}

func (s *pkgState) startPostgres() (*pgServer, error) {
	base, err := s.baseDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	began := time.Now()
	binDir, err := services.FindPostgresBin()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(base, "postgres")
	cache, cacheErr := pgCacheDir(binDir)
	cached := cacheErr == nil && copyCachedCluster(cache, dir)
	srv, err := services.StartPostgres(ctx, services.PostgresConfig{Dir: dir, BinDir: binDir})
	if err != nil {
		return nil, err
	}
	s.onShutdown(srv.Kill)
	how := "from the cached migrated cluster " + cache
	if !cached {
		if err := createTemplate(ctx, srv); err != nil {
			return nil, err
		}
		how = "initdb and migrations"
		if cacheErr == nil {
			if err := saveCluster(ctx, srv, dir, cache); err != nil {
				debugf("postgres cluster not cached: %v", err)
			}
		}
	}
	debugf("postgres ready on port %d in %v (%s)", srv.Port(), time.Since(began).Round(time.Millisecond), how)
	return &pgServer{srv: srv}, nil
}

func createTemplate(ctx context.Context, srv *services.Postgres) error {
	if err := pgExec(ctx, srv.URL("postgres"), CreateDatabaseSQL(templateDB, os.Getenv(PostgresLocaleEnv))); err != nil {
		return err
	}
	if err := migrate.Postgres(ctx, srv.URL(templateDB)); err != nil {
		return fmt.Errorf("cannot migrate the template database: %w", err)
	}
	// No session may stay connected to a template while it is copied.
	return pgExec(ctx, srv.URL("postgres"), "ALTER DATABASE "+templateDB+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true")
}

func pgExec(ctx context.Context, url, sql string) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("cannot connect to postgres: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("postgres: %s: %w", sql, err)
	}
	return nil
}

func (e *Env) postgres(t testing.TB) *pgServer {
	t.Helper()
	pg, err := e.s.pg.get()
	if err != nil {
		fail(t, "cannot start Postgres", err)
	}
	logOnFailure(t, "postgres", func() string { return pg.srv.Proc().LogTail(30) })
	return pg
}

// PostgresURL returns the URL of a fresh database for t with every Postgres
// migration applied, copied from a migrated template. It is dropped when t ends.
func (e *Env) PostgresURL(t testing.TB) string {
	t.Helper()
	pg := e.postgres(t)
	name := e.s.name("_")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg.mu.Lock()
	err := pgExec(ctx, pg.srv.URL("postgres"), "CREATE DATABASE "+name+" TEMPLATE "+templateDB+" STRATEGY FILE_COPY")
	pg.mu.Unlock()
	if err != nil {
		fail(t, "cannot create a test database", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends sessions a test left open; the server is thrown away anyway.
		if err := pgExec(ctx, pg.srv.URL("postgres"), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: %v", err)
		}
	})
	return pg.srv.URL(name)
}

// PostgresAdminURL returns the URL of the server's maintenance database
// "postgres", as the superuser.
func (e *Env) PostgresAdminURL() string {
	e.t.Helper()
	return e.postgres(e.t).srv.URL("postgres")
}
