package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

// chdbScript runs the statements, then every report, in one chdb session
// (ClickHouse's current engine in process) and prints the reports' rows as
// TabSeparated, in JSON keyed by report name.
const chdbScript = `
import json, sys, tempfile
from chdb import session
spec = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as d:
    s = session.Session(d)
    for st in spec["statements"]:
        s.query(st)
    s.query("USE affiliate")
    out = {}
    for name, sql in spec["reports"].items():
        out[name] = s.query(sql, "TabSeparated").bytes().decode()
    s.close()
json.dump(out, sys.stdout)
`

// chdbPython is the interpreter of the git-ignored virtual environment that
// deploy/install-deps.sh creates (AFF_CHDB_PYTHON overrides it).
func chdbPython(t *testing.T) string {
	if p := os.Getenv("AFF_CHDB_PYTHON"); p != "" {
		return p
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("chdb-core not installed (%v): run `bash deploy/install-deps.sh`, or `python3 -m venv .venv && .venv/bin/pip install chdb-core==26.9.0`", err)
	}
	return p
}

// TestReportsConformance applies every ClickHouse migration and runs every
// report on the same data on the 18.16 server and in chdb-core 26.9, and
// asserts the same rows (DESIGN §6: the SQL must run on both).
func TestReportsConformance(t *testing.T) {
	python := chdbPython(t)
	env := testenv.Get(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	d := newDataset(7)
	d.seed(t, conn)

	ms, err := migrate.ParseClickHouse(migrate.ClickHouseFS(), "affiliate")
	if err != nil {
		t.Fatal(err)
	}
	statements := []string{"CREATE DATABASE IF NOT EXISTS affiliate"}
	for _, m := range ms {
		statements = append(statements, m.Statements...)
	}
	statements = append(statements, d.insertStatements("affiliate")...)
	files, err := filepath.Glob(filepath.Join(reportsDir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no reports in %s: %v", reportsDir, err)
	}
	reports := map[string]string{}
	for _, f := range files {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		reports[strings.TrimSuffix(filepath.Base(f), ".sql")] = string(sql)
	}
	spec, _ := json.Marshal(map[string]any{"statements": statements, "reports": reports})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", chdbScript)
	cmd.Stdin = bytes.NewReader(spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chdb: %v\n%s", err, stderr.String())
	}
	var current map[string]string
	if err := json.Unmarshal(out, &current); err != nil {
		t.Fatalf("chdb output: %v", err)
	}
	for name, sql := range reports {
		old := clientTSV(t, env.ClickHouseAddr(), db, sql)
		if strings.TrimSpace(old) == "" {
			t.Errorf("report %s: no rows on 18.16; the comparison proves nothing", name)
		}
		if old != current[name] {
			t.Errorf("report %s differs:\n18.16:\n%s\n26.9:\n%s", name, old, current[name])
		}
	}
}

// clientTSV runs sql with clickhouse-client on the 18.16 server.
func clientTSV(t *testing.T, addr, db, sql string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--database", db, "--format", "TabSeparated")
	cmd.Stdin = strings.NewReader(sql)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("clickhouse-client: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// insertStatements renders the dataset as INSERT ... VALUES into database
// db, as newDataset's seed inserts it (replays included).
func (d *dataset) insertStatements(db string) []string {
	ts := func(t time.Time) string { return "'" + t.UTC().Format("2006-01-02 15:04:05") + "'" }
	q := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
	}
	var clicks, events, lines, facts []string
	for _, c := range d.clicks {
		clicks = append(clicks, fmt.Sprintf("(%s, %s, %s, %s, %s, %s, %d)", q(c.id), ts(c.at), q(c.device), q(c.partner), q(c.link), q(c.product), b2u(c.bot)))
	}
	for _, o := range d.orders {
		events = append(events, fmt.Sprintf("(%s, %s, %s, %s, %s, %s, %d)", q(o.eventID), q(o.typ), q(o.orderID), ts(o.at), q(o.device), q(o.currency), len(o.lines)))
		for _, l := range o.lines {
			lines = append(lines, fmt.Sprintf("(%s, %s, %s, %s, %s, %s, %d, %d, %d, %d, %s)", q(o.eventID), q(o.typ), q(o.orderID), ts(o.at),
				q(l.id), q(l.product), l.qty, l.unit, l.discount, l.unit*l.qty-l.discount, q(o.currency)))
		}
	}
	half := len(d.facts) / 2
	var out []string
	for _, part := range [][]rFact{d.facts[half:], d.facts[:half]} {
		facts = facts[:0]
		for _, f := range part {
			facts = append(facts, fmt.Sprintf("(%s, %s, %s, %s, %s, %s, %s, %d, %d, %s)", q(f.eventID), ts(f.at), q(f.commissionID), q(f.orderID),
				q(f.lineID), q(f.partner), q(f.currency), f.amount, f.base, q(f.state)))
		}
		out = append(out, "INSERT INTO "+db+".commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state) VALUES "+strings.Join(facts, ", "))
	}
	return append([]string{
		"INSERT INTO " + db + ".clicks (click_id, at, device_token, partner_id, link_id, product_id, bot) VALUES " + strings.Join(clicks, ", "),
		"INSERT INTO " + db + ".order_events (event_id, type, order_id, at, device_token, currency, lines) VALUES " + strings.Join(events, ", "),
		"INSERT INTO " + db + ".order_lines (event_id, type, order_id, at, line_id, product_id, quantity, unit_price_minor, discount_minor, amount_minor, currency) VALUES " + strings.Join(lines, ", "),
	}, out...)
}
