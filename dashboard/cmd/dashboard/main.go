// Command dashboard serves the admin and partner panels and the admin JSON
// API (dashboard serve), and creates admin users (dashboard create-admin).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/reports"
	"github.com/openaff/affiliate/dashboard/internal/server"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/dashboard/internal/ui"
	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/migrate"
)

// TrackerPublicURL names the dashboard-only setting: the public base URL
// of the tracker that tracking links point to (default http://AFF_TRACKER_ADDR).
const TrackerPublicURL = "AFF_TRACKER_PUBLIC_URL"

// MinAdminTokenBytes is the shortest AFF_ADMIN_TOKEN accepted: a short
// bearer token is guessable.
const MinAdminTokenBytes = 16

const usage = `usage:
  dashboard serve                          serve the panels and the admin API on AFF_DASHBOARD_ADDR
  dashboard create-admin --email E [--password-file F]
                                           create an admin (or reset its password); the password
                                           is read from F, or from the first line of stdin
`

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, log)
	case "create-admin":
		err = createAdmin(ctx, os.Args[2:], os.Stdin, os.Stdout)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		log.Error("dashboard failed", "command", os.Args[1], "error", err)
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			os.Exit(2) // bad configuration, as for bad usage
		}
		os.Exit(1)
	}
}

func trackerBase(cfg *config.Config) (string, error) {
	v := strings.TrimSpace(os.Getenv(TrackerPublicURL))
	if v == "" {
		return "http://" + cfg.TrackerAddr, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: %q must be an absolute http(s) URL", TrackerPublicURL, v)
	}
	return strings.TrimRight(v, "/"), nil
}

func serve(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.FromEnv(config.DashboardRequired...)
	if err != nil {
		return err
	}
	if len(cfg.AdminToken) < MinAdminTokenBytes {
		return fmt.Errorf("%s: must be at least %d bytes (e.g. openssl rand -hex 32)", config.AdminToken, MinAdminTokenBytes)
	}
	base, err := trackerBase(cfg)
	if err != nil {
		return err
	}
	if err := migrate.Postgres(ctx, cfg.PostgresURL); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("cannot open postgres: %w", err)
	}
	defer pool.Close()
	st := storage.New(pool)
	l := ledger.New(pool, ledger.Options{})
	rep, err := reports.Open(ctx, cfg.ClickHouseAddr, cfg.ClickHouseDB)
	if err != nil {
		return err
	}
	defer rep.Close()
	lm := links.Maker{AllowedHosts: cfg.AllowedHosts, TrackerBase: base, Shop: cfg.ShopURL.String()}
	u, err := ui.New(ui.Deps{Store: st, Ledger: l, Links: lm, Hasher: auth.Hasher{}, Reports: rep,
		CookieSecure: cfg.CookieSecure, Log: log})
	if err != nil {
		return err
	}
	h := server.New(api.Deps{Store: st, Ledger: l, Links: lm, Token: cfg.AdminToken, Log: log}, u)
	srv := &http.Server{Addr: cfg.DashboardAddr, Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second, WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	go cleanSessions(ctx, st, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("dashboard listening", "addr", cfg.DashboardAddr, "tracker_base", base)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cleanSessions deletes expired sessions and old login attempts hourly.
func cleanSessions(ctx context.Context, st *storage.Storage, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := st.DeleteExpiredSessions(ctx, 7*24*time.Hour); err != nil && ctx.Err() == nil {
			log.Warn("cannot clean sessions", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// createAdmin creates an admin user; the password never appears on the
// command line (it would land in the shell history and ps).
func createAdmin(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	email := fs.String("email", "", "e-mail address of the admin (required)")
	pwFile := fs.String("password-file", "", "file holding the password; default: the first line of stdin")
	cost := fs.Int("bcrypt-cost", auth.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || !strings.Contains(*email, "@") {
		return errors.New("create-admin: --email is required")
	}
	var raw []byte
	var err error
	if *pwFile != "" {
		raw, err = os.ReadFile(*pwFile)
	} else {
		raw, err = bufio.NewReader(io.LimitReader(stdin, 1024)).ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("cannot read password: %w", err)
	}
	password := strings.TrimRight(string(raw), "\r\n")
	hash, err := auth.Hasher{Cost: *cost}.Hash(password)
	if err != nil {
		return err
	}
	cfg, err := config.FromEnv(config.PostgresURL)
	if err != nil {
		return err
	}
	if err := migrate.Postgres(ctx, cfg.PostgresURL); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("cannot open postgres: %w", err)
	}
	defer pool.Close()
	u, err := storage.New(pool).CreateAdmin(ctx, *email, hash)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admin %s ready (user id %d)\n", u.Email, u.ID)
	return nil
}
