package services

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresInstall is the command that installs the Postgres server binaries.
const PostgresInstall = "sudo apt-get install postgresql (or: bash deploy/install-deps.sh)"

// PostgresConfig configures StartPostgres.
type PostgresConfig struct {
	// Dir holds the cluster (Dir/data), the unix socket and the log
	// (Dir/postgres.log). An existing cluster in Dir/data is reused.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// BinDir holds initdb and postgres; "" finds /usr/lib/postgresql/*/bin.
	BinDir string
	// Durable keeps fsync on (the dev stack); tests turn it off for speed.
	Durable bool
	// MaxConnections is the server's max_connections; 0 means 300.
	MaxConnections int
}

// Postgres is a running Postgres server.
type Postgres struct {
	cfg  PostgresConfig
	proc *Proc
	cred *syscall.Credential
}

// FindPostgresBin returns the newest /usr/lib/postgresql/*/bin holding both
// initdb and postgres, or a *MissingError.
func FindPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", &MissingError{What: "Postgres server (/usr/lib/postgresql/*/bin/initdb)", Install: PostgresInstall}
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// StartPostgres initialises a cluster in cfg.Dir/data when there is none,
// starts the server and waits until it accepts connections. As root the
// server runs as the user nobody (initdb and postgres refuse root), which
// must be able to reach cfg.Dir.
func StartPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if cfg.BinDir == "" {
		d, err := FindPostgresBin()
		if err != nil {
			return nil, err
		}
		cfg.BinDir = d
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 300
	}
	if cfg.Port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		cfg.Port = p
	}
	cred, err := unprivileged(cfg.Dir)
	if err != nil {
		return nil, err
	}
	pg := &Postgres{cfg: cfg, cred: cred}
	if err := pg.initdb(ctx); err != nil {
		return nil, err
	}
	if err := pg.Start(ctx); err != nil {
		return nil, err
	}
	return pg, nil
}

// unprivileged returns the credential of the user nobody when running as
// root (nil otherwise), after making dir theirs and checking they can reach it.
func unprivileged(dir string) (*syscall.Credential, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create postgres dir: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("postgres refuses to run as root and there is no user nobody to run it as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return nil, fmt.Errorf("postgres runs as user nobody, who cannot enter %s (mode %v) on the way to %s: "+
				"chmod o+x %s, or use a directory under /tmp", p, st.Mode().Perm(), abs, p)
		}
		if p == "/" || p == filepath.Dir(p) {
			break
		}
	}
	err = filepath.WalkDir(abs, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot hand %s to user nobody: %w", abs, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (pg *Postgres) dataDir() string { return filepath.Join(pg.cfg.Dir, "data") }

// LogPath returns the server's log file.
func (pg *Postgres) LogPath() string { return filepath.Join(pg.cfg.Dir, "postgres.log") }

func (pg *Postgres) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(pg.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	args := []string{"-D", pg.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"}
	if !pg.cfg.Durable {
		args = append(args, "--no-sync")
	}
	p, err := StartProc(ProcSpec{
		Name: "initdb", Path: filepath.Join(pg.cfg.BinDir, "initdb"), Args: args,
		Dir: pg.cfg.Dir, Env: []string{"LC_ALL=C", "PATH=/usr/bin:/bin"},
		LogPath: filepath.Join(pg.cfg.Dir, "initdb.log"), Credential: pg.cred,
	})
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("initdb: %w", ctx.Err())
	}
	if _, err := p.Exited(); err != nil {
		return fmt.Errorf("initdb failed (%v); last lines of %s:\n%s", err, p.spec.LogPath, p.LogTail(30))
	}
	return nil
}

// PostgresSettingsEnv names extra "name=value" server settings, separated
// by spaces, applied to every Postgres these helpers start.
const PostgresSettingsEnv = "AFF_TEST_PG_SETTINGS"

// Start starts the server on its cluster and waits until it answers. It is
// called by StartPostgres and again after Stop.
func (pg *Postgres) Start(ctx context.Context) error {
	args := []string{
		"-D", pg.dataDir(), "-p", strconv.Itoa(pg.cfg.Port), "-k", pg.cfg.Dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=" + strconv.Itoa(pg.cfg.MaxConnections),
		"-c", "shared_buffers=64MB",
		"-c", "log_min_messages=warning", "-c", "log_checkpoints=off",
		"-c", "log_line_prefix=%m [%p] ",
	}
	if !pg.cfg.Durable {
		// A throw-away cluster: nothing needs to survive a crash.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "wal_level=minimal", "-c", "max_wal_senders=0",
			"-c", "checkpoint_timeout=1h", "-c", "max_wal_size=1GB")
	}
	// Extra settings for one run (benchmarks that need a server sized for
	// their data): AFF_TEST_PG_SETTINGS="shared_buffers=2GB max_wal_size=8GB";
	// later -c options win.
	for _, kv := range strings.Fields(os.Getenv(PostgresSettingsEnv)) {
		args = append(args, "-c", kv)
	}
	p, err := StartProc(ProcSpec{
		Name: "postgres", Path: filepath.Join(pg.cfg.BinDir, "postgres"), Args: args,
		Dir: pg.cfg.Dir, Env: []string{"LC_ALL=C", "PATH=/usr/bin:/bin"},
		LogPath: pg.LogPath(), Credential: pg.cred,
		// SIGQUIT is Postgres's immediate shutdown: it takes its backends along.
		DeathSignal: syscall.SIGQUIT,
	})
	if err != nil {
		return err
	}
	pg.proc = p
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = waitReady(ctx, p, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, pg.URL("postgres"))
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		return c.Ping(ctx)
	})
	if err != nil {
		p.Kill()
		return err
	}
	return nil
}

// Port returns the server's TCP port.
func (pg *Postgres) Port() int { return pg.cfg.Port }

// URL returns the URL of database db as the superuser postgres.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.cfg.Port, db)
}

// Proc returns the server process.
func (pg *Postgres) Proc() *Proc { return pg.proc }

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// waits for it; it kills the server after 20 s.
func (pg *Postgres) Stop() {
	if pg.proc != nil {
		pg.proc.Stop(syscall.SIGINT, 20*time.Second)
	}
}

// Kill kills the server and its backends at once (for throw-away clusters).
func (pg *Postgres) Kill() {
	if pg.proc != nil {
		// SIGQUIT first: the postmaster then ends its backends itself.
		pg.proc.Stop(syscall.SIGQUIT, 2*time.Second)
	}
}
