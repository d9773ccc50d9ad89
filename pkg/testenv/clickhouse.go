package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/services"
)

type chServer struct{ srv *services.ClickHouse }

func (s *pkgState) startClickHouse() (*chServer, error) {
	base, err := s.baseDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	began := time.Now()
	srv, err := services.StartClickHouse(ctx, services.ClickHouseConfig{Dir: filepath.Join(base, "clickhouse")})
	if err != nil {
		return nil, err
	}
	// A throw-away server is killed: a graceful stop of 18.16 can take 20 s.
	s.onShutdown(srv.Kill)
	debugf("clickhouse ready on %s in %v", srv.Addr(), time.Since(began).Round(time.Millisecond))
	return &chServer{srv: srv}, nil
}

func (e *Env) clickhouse(t testing.TB) *chServer {
	t.Helper()
	ch, err := e.s.ch.get()
	if err != nil {
		fail(t, "cannot start ClickHouse", err)
	}
	logOnFailure(t, "clickhouse error", func() string { return ch.srv.LogTail(30) })
	return ch
}

// ClickHouseAddr returns host:port of the shared ClickHouse server's native
// protocol.
func (e *Env) ClickHouseAddr() string {
	e.t.Helper()
	return e.clickhouse(e.t).srv.Addr()
}

// ClickHouseDB returns the name of a fresh ClickHouse database for t on the
// server at ClickHouseAddr, with every ClickHouse migration applied. It is
// dropped when t ends.
func (e *Env) ClickHouseDB(t testing.TB) string {
	t.Helper()
	return freshClickHouseDB(t, e.s.name("_"), e.clickhouse(t).srv.Addr())
}

func freshClickHouseDB(t testing.TB, name, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrate.ClickHouse(ctx, addr, name); err != nil {
		fail(t, "cannot create a ClickHouse test database", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := chExec(ctx, addr, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("testenv: %v", err)
		}
	})
	return name
}

func chExec(ctx context.Context, addr, sql string) error {
	db, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second, MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Exec(ctx, sql); err != nil {
		return fmt.Errorf("clickhouse: %s: %w", sql, err)
	}
	return nil
}

// ClickHouse is a dedicated ClickHouse server for one test, for fault tests
// that stop and start it.
type ClickHouse struct {
	t   testing.TB
	srv *services.ClickHouse
	s   *pkgState
}

// StartClickHouse starts a ClickHouse server for t alone; it is killed when
// t ends.
func StartClickHouse(t testing.TB) *ClickHouse {
	t.Helper()
	ctx, cancel := ctxTimeout()
	defer cancel()
	srv, err := services.StartClickHouse(ctx, services.ClickHouseConfig{Dir: t.TempDir()})
	if err != nil {
		fail(t, "cannot start ClickHouse", err)
	}
	t.Cleanup(srv.Kill)
	logOnFailure(t, "dedicated clickhouse error", func() string { return srv.LogTail(30) })
	return &ClickHouse{t: t, srv: srv, s: state}
}

// Addr returns host:port of the server's native protocol; it stays the same
// across Stop and Start.
func (c *ClickHouse) Addr() string { return c.srv.Addr() }

// DB returns the name of a fresh database on this server with every
// ClickHouse migration applied.
func (c *ClickHouse) DB(t testing.TB) string {
	t.Helper()
	return freshClickHouseDB(t, c.s.name("_"), c.srv.Addr())
}

// Stop kills the server (as a crash would); its data stays for Start.
func (c *ClickHouse) Stop() { c.srv.Kill() }

// Start starts the server again on the same ports and data and waits until
// it answers. Call it from the test's goroutine.
func (c *ClickHouse) Start() {
	c.t.Helper()
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := c.srv.Start(ctx); err != nil {
		fail(c.t, "cannot restart ClickHouse", err)
	}
}
