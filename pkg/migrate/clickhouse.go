package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ClickHouseFile is one parsed ClickHouse migration.
type ClickHouseFile struct {
	Version    uint64
	Name       string
	Statements []string
}

// ClickHouse creates database if missing and applies every embedded
// ClickHouse migration that is not yet recorded in its schema_migrations
// table. Statements are idempotent, so concurrent runners both succeed.
func ClickHouse(ctx context.Context, addr, database string) error {
	_, err := ClickHouseWithLog(ctx, addr, database, nil)
	return err
}

// ClickHouseWithLog is ClickHouse that also logs each applied version (nil:
// silent) and returns how many migrations were applied.
func ClickHouseWithLog(ctx context.Context, addr, database string, log *slog.Logger) (int, error) {
	migrations, err := ParseClickHouse(ClickHouseFS(), database)
	if err != nil {
		return 0, err
	}
	conn, err := Open(ctx, addr, "default")
	if err != nil {
		return 0, err
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(database)); err != nil {
		conn.Close()
		return 0, fmt.Errorf("cannot create clickhouse database %s: %w", database, err)
	}
	conn.Close()
	if conn, err = Open(ctx, addr, database); err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version UInt64, name String, applied_at DateTime
	) ENGINE = ReplacingMergeTree ORDER BY version`); err != nil {
		return 0, fmt.Errorf("cannot create clickhouse schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		start := time.Now()
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return n, fmt.Errorf("clickhouse migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		if err := record(ctx, conn, m); err != nil {
			return n, fmt.Errorf("cannot record clickhouse migration %s: %w", m.Name, err)
		}
		n++
		if log != nil {
			log.Info("clickhouse migration applied", "version", m.Version, "file", m.Name, "database", database, "duration", time.Since(start))
		}
	}
	return n, nil
}

// record notes m as applied. It uses a batch insert: ClickHouse 18.16 never
// answers clickhouse-go's Exec of an INSERT with bound VALUES.
func record(ctx context.Context, conn clickhouse.Conn, m ClickHouseFile) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		return err
	}
	if err := batch.Append(m.Version, m.Name, time.Now().UTC()); err != nil {
		return err
	}
	return batch.Send()
}

// Open connects to ClickHouse over the native protocol with settings that
// work on 18.16 and on current releases.
func Open(ctx context.Context, addr, database string) (clickhouse.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 5 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot open clickhouse %s: %w", addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cannot reach clickhouse %s: %w", addr, err)
	}
	return conn, nil
}

func appliedVersions(ctx context.Context, conn clickhouse.Conn) (map[uint64]bool, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("cannot read clickhouse schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint64]bool{}
	for rows.Next() {
		var v uint64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("cannot read clickhouse schema_migrations: %w", err)
		}
		out[v] = true
	}
	return out, rows.Err()
}

// ParseClickHouse reads every NNNNN_name.sql file of fsys in version order,
// replaces ${DB} with database and splits it into statements.
func ParseClickHouse(fsys fs.FS, database string) ([]ClickHouseFile, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []ClickHouseFile
	seen := map[uint64]string{}
	for _, name := range names {
		prefix, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.ParseUint(prefix, 10, 64)
		if !ok || err != nil || v == 0 {
			return nil, fmt.Errorf("clickhouse migration %s: name must start with a positive version and _", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("clickhouse migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		stmts := SplitStatements(strings.ReplaceAll(string(body), "${DB}", quoteIdent(database)))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("clickhouse migration %s has no statements", name)
		}
		out = append(out, ClickHouseFile{Version: v, Name: name, Statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// SplitStatements splits SQL text into statements at lines ending in ';',
// dropping whole-line `--` comments and blank statements.
func SplitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }
