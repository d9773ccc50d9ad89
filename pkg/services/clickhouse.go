package services

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ClickHouseInstall is the command that installs the ClickHouse server.
const ClickHouseInstall = "sudo apt-get install clickhouse-server clickhouse-client (or: bash deploy/install-deps.sh)"

// ClickHouseConfig configures StartClickHouse.
type ClickHouseConfig struct {
	// Dir holds the generated config.xml and users.xml, the data (Dir/data)
	// and the logs. Existing data is reused.
	Dir string
	// TCPPort is the native-protocol port on 127.0.0.1; 0 picks a free one.
	TCPPort int
	// HTTPPort is the HTTP port on 127.0.0.1; 0 picks a free one.
	HTTPPort int
	// CacheBytes sizes the mark and uncompressed caches; 0 means 64 MiB.
	CacheBytes int64
}

// ClickHouse is a running ClickHouse server.
type ClickHouse struct {
	cfg  ClickHouseConfig
	bin  []string // executable and leading argument
	proc *Proc
}

// FindClickHouse returns the command that runs a ClickHouse server:
// Debian's clickhouse-server, or a current release's `clickhouse server`.
func FindClickHouse() ([]string, error) {
	if p, ok := lookPath("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"); ok {
		return []string{p}, nil
	}
	if p, ok := lookPath("clickhouse", "/usr/bin/clickhouse"); ok {
		return []string{p, "server"}, nil
	}
	return nil, &MissingError{What: "clickhouse-server", Install: ClickHouseInstall}
}

// StartClickHouse writes a config for cfg into cfg.Dir, starts the server
// and waits until it answers on the native port.
func StartClickHouse(ctx context.Context, cfg ClickHouseConfig) (*ClickHouse, error) {
	bin, err := FindClickHouse()
	if err != nil {
		return nil, err
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	for _, p := range []*int{&cfg.TCPPort, &cfg.HTTPPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = abs
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create clickhouse dir: %w", err)
	}
	ch := &ClickHouse{cfg: cfg, bin: bin}
	if err := ch.writeConfig(); err != nil {
		return nil, err
	}
	if err := ch.Start(ctx); err != nil {
		return nil, err
	}
	return ch, nil
}

func (ch *ClickHouse) writeConfig() error {
	d := ch.cfg.Dir
	r := strings.NewReplacer(
		"{DIR}", d,
		"{TCP}", strconv.Itoa(ch.cfg.TCPPort),
		"{HTTP}", strconv.Itoa(ch.cfg.HTTPPort),
		"{CACHE}", strconv.FormatInt(ch.cfg.CacheBytes, 10),
	)
	if err := os.WriteFile(filepath.Join(d, "config.xml"), []byte(r.Replace(clickHouseConfig)), 0o644); err != nil {
		return fmt.Errorf("cannot write clickhouse config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, "users.xml"), []byte(clickHouseUsers), 0o644); err != nil {
		return fmt.Errorf("cannot write clickhouse users: %w", err)
	}
	return nil
}

// The root element <yandex> is what 18.16 knows; current releases accept it too.
const clickHouseConfig = `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{DIR}/clickhouse-server.log</log>
    <errorlog>{DIR}/clickhouse-server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{TCP}</tcp_port>
  <http_port>{HTTP}</http_port>
  <path>{DIR}/data/</path>
  <tmp_path>{DIR}/tmp/</tmp_path>
  <user_files_path>{DIR}/user_files/</user_files_path>
  <format_schema_path>{DIR}/format_schemas/</format_schema_path>
  <users_config>{DIR}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>{CACHE}</mark_cache_size>
  <uncompressed_cache_size>{CACHE}</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
</yandex>
`

const clickHouseUsers = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
        <read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`

// LogPath returns the file holding the server's stdout and stderr; the
// server's own logs are beside it (clickhouse-server.log, .err.log).
func (ch *ClickHouse) LogPath() string { return filepath.Join(ch.cfg.Dir, "stdout.log") }

// LogTail returns the last n lines of the server's error log.
func (ch *ClickHouse) LogTail(n int) string {
	return TailFile(filepath.Join(ch.cfg.Dir, "clickhouse-server.err.log"), n)
}

// Start starts the server on its config and waits until it answers. It is
// called by StartClickHouse and again after Stop or Kill.
func (ch *ClickHouse) Start(ctx context.Context) error {
	args := append(append([]string{}, ch.bin[1:]...), "--config-file="+filepath.Join(ch.cfg.Dir, "config.xml"))
	p, err := StartProc(ProcSpec{
		Name: "clickhouse", Path: ch.bin[0], Args: args, Dir: ch.cfg.Dir,
		LogPath: ch.LogPath(), DeathSignal: syscall.SIGKILL,
	})
	if err != nil {
		return err
	}
	ch.proc = p
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = waitReady(ctx, p, func(ctx context.Context) error {
		db, err := clickhouse.Open(&clickhouse.Options{
			Addr: []string{ch.Addr()}, DialTimeout: time.Second,
			MaxOpenConns: 1, ConnMaxLifetime: time.Minute,
		})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.Ping(ctx)
	})
	if err != nil {
		p.Kill()
		return fmt.Errorf("%w\nerror log:\n%s", err, ch.LogTail(20))
	}
	return nil
}

// Addr returns host:port of the native protocol.
func (ch *ClickHouse) Addr() string { return fmt.Sprintf("127.0.0.1:%d", ch.cfg.TCPPort) }

// HTTPPort returns the HTTP port.
func (ch *ClickHouse) HTTPPort() int { return ch.cfg.HTTPPort }

// Proc returns the server process.
func (ch *ClickHouse) Proc() *Proc { return ch.proc }

// Stop shuts the server down gracefully, killing it after grace (18.16 can
// take 20 s to stop).
func (ch *ClickHouse) Stop(grace time.Duration) {
	if ch.proc != nil {
		ch.proc.Stop(syscall.SIGTERM, grace)
	}
}

// Kill kills the server at once; a throw-away test server needs no more.
func (ch *ClickHouse) Kill() {
	if ch.proc != nil {
		ch.proc.Kill()
	}
}
