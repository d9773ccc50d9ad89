package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// foundationTables are the tables of 00001-00099; the digest must hold them
// all, so a digest query that silently matches nothing cannot pass.
var foundationTables = []string{
	"program_settings", "partners", "partner_applications", "bank_accounts", "users", "sessions",
	"login_attempts", "categories", "products", "commission_rates", "links", "customers",
	"customer_bindings", "identities", "inbox", "orders", "order_lines", "order_events",
	"order_overrides", "attributions", "commissions", "self_referrals", "payouts",
	"store_credit_requests", "adjustments", "penalties", "announcements",
	"announcement_recipients", "announcement_reads", "settlement_runs", "sink_watermarks", "outbox",
}

func TestPostgresMigrateTwiceSameSchema(t *testing.T) {
	env := testenv.Get(t)
	ctx := testContext(t)
	dbURL := emptyDatabase(t, env)

	n1, err := migrate.PostgresWithLog(ctx, dbURL, nil)
	if err != nil {
		t.Fatalf("first migrate.Postgres: %v", err)
	}
	if n1 < len(foundationFiles(t)) {
		t.Fatalf("first migrate.Postgres applied %d migrations, want at least the %d foundation files", n1, len(foundationFiles(t)))
	}
	first := schemaDigest(t, dbURL)
	for _, table := range foundationTables {
		if !strings.Contains(first, "col "+table+".") {
			t.Errorf("schema digest has no columns of table %s", table)
		}
	}

	n2, err := migrate.PostgresWithLog(ctx, dbURL, nil)
	if err != nil {
		t.Fatalf("second migrate.Postgres: %v", err)
	}
	if n2 != 0 {
		t.Fatalf("second migrate.Postgres applied %d migrations, want 0", n2)
	}
	if second := schemaDigest(t, dbURL); second != first {
		t.Fatalf("schema changed by a second migrate.Postgres:\n%s", diffLines(first, second))
	}
	// The test environment's template went through the same runner.
	if tmpl := schemaDigest(t, env.PostgresURL(t)); tmpl != first {
		t.Fatalf("testenv database differs from a fresh migration:\n%s", diffLines(first, tmpl))
	}
}

func TestPostgresMigrateConcurrently(t *testing.T) {
	env := testenv.Get(t)
	ctx := testContext(t)
	dbURL := emptyDatabase(t, env)

	// Each runner opens its own connections, as separate processes would;
	// goose's session advisory lock must serialise them.
	const runners = 4
	var wg sync.WaitGroup
	errs := make([]error, runners)
	applied := make([]int, runners)
	for i := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = migrate.PostgresWithLog(ctx, dbURL, nil)
		}()
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("runner %d: migrate.Postgres: %v", i, err)
		}
		total += applied[i]
	}
	want := countVersions(t, dbURL)
	if total != want {
		t.Fatalf("runners applied %d migrations in total (%v), want each of the %d exactly once", total, applied, want)
	}
	if got, ref := schemaDigest(t, dbURL), schemaDigest(t, env.PostgresURL(t)); got != ref {
		t.Fatalf("concurrently migrated schema differs from the template:\n%s", diffLines(ref, got))
	}
}

// TestPostgresConstraints checks that the constraints the Go code relies on
// really bite. Each statement runs in its own rolled-back transaction on top
// of a small fixture.
func TestPostgresConstraints(t *testing.T) {
	ctx, conn := connectTest(t)
	// Fresh database: the fixture's partner and user get id 1.
	mustExec(t, conn, `
		INSERT INTO partners (name, email, slug) VALUES ('Serdar', 'serdar@example.com', 'serdar');
		INSERT INTO users (email, password_hash, role) VALUES ('admin@example.com', 'x', 'admin');
		INSERT INTO customers (customer_id, first_seen_at) VALUES ('c1', now()), ('c2', now());
		INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ('c1', 1, 'admin', now());
		INSERT INTO orders (order_id, currency, placed_at) VALUES ('o1', 'EUR', now());
		INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o1', 'l1', 'p1', 2, 1000);
		INSERT INTO inbox (topic, event_id, payload_sha256, kafka_partition, kafka_offset) VALUES ('orders', 'e1', sha256('x'), 0, 0);
		INSERT INTO order_events (event_id, order_id, type, at, payload) VALUES ('e1', 'o1', 'order.placed', now(), '{}');
		INSERT INTO identities (event_id, device_token, customer_id, at) VALUES ('i1', 'd1', 'c1', now());
		INSERT INTO attributions (order_id, version, partner_id, rule, click_id) VALUES ('o1', 1, 1, 'device', gen_random_uuid());
		INSERT INTO commission_rates (product_id, rate_upct) VALUES ('p1', 5000000);
		INSERT INTO links (code, partner_id, kind, target_url) VALUES ('abcd1234', 1, 'link', 'https://shop.example/p1');
		INSERT INTO payouts (partner_id, amount_minor, currency, idempotency_key) VALUES (1, 100, 'EUR', 'k1');
		INSERT INTO outbox (topic, event_id, key, payload) VALUES ('store_credits', 'sc1', '1', '{}');
	`)

	const (
		ok      = ""
		check   = "23514"
		unique  = "23505"
		foreign = "23503"
		notNull = "23502"
	)
	f := func(sql, wantCode string) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		switch {
		case wantCode == ok && err != nil:
			t.Errorf("Exec(%q) = %v, want success", sql, err)
		case wantCode == ok:
		case !errors.As(err, &pgErr):
			t.Errorf("Exec(%q) = %v, want SQLSTATE %s", sql, err, wantCode)
		case !strings.HasPrefix(pgErr.Code, wantCode):
			t.Errorf("Exec(%q) = SQLSTATE %s (%s), want %s", sql, pgErr.Code, pgErr.Message, wantCode)
		}
	}
	partner := func(slug string) string {
		return fmt.Sprintf(`INSERT INTO partners (name, email, slug) VALUES ('x', '%s@example.com', '%s')`, slug, slug)
	}

	// Slugs: lower-case, safe characters, unique, never a reserved path segment.
	f(partner("ayse"), ok)
	f(partner("a"), ok)
	f(partner("a-b_c9"), ok)
	for _, reserved := range []string{"r", "v1", "healthz", "metrics", "static", "api", "admin", "partner", "login", "logout", "apply"} {
		f(partner(reserved), check)
	}
	f(partner("Serdar2"), check)               // upper case would make uniqueness case-sensitive
	f(partner("-serdar"), check)               // no separator at the ends
	f(partner("ser/dar"), check)               // a slug is one path segment
	f(partner(strings.Repeat("a", 41)), check) // 40 characters at most
	f(`INSERT INTO partners (name, email, slug) VALUES ('x', 'y@example.com', 'serdar')`, unique)
	f(`INSERT INTO partners (name, email, slug) VALUES ('x', 'SERDAR@example.com', 'other')`, unique) // e-mail case-insensitively unique
	f(`INSERT INTO partners (name, email, slug) VALUES ('x', 'not-an-email', 'other')`, check)
	f(`UPDATE partners SET status = 'deleted' WHERE id = 1`, check)
	f(`UPDATE partners SET default_rate_upct = 100000001 WHERE id = 1`, check) // above 100 %

	// Program settings: one row; durations without months; rates within 0-100 %.
	f(`INSERT INTO program_settings (id) VALUES (true)`, unique)
	f(`INSERT INTO program_settings (id) VALUES (false)`, check)
	f(`UPDATE program_settings SET attribution_window = interval '1 month'`, check) // not a fixed duration
	f(`UPDATE program_settings SET binding_window = interval '-1 hour'`, check)
	f(`UPDATE program_settings SET attribution_window = interval '400 days'`, ok)
	f(`UPDATE program_settings SET reserve_upct = -1`, check)
	f(`UPDATE program_settings SET attribution_model = 'linear'`, check)
	f(`UPDATE program_settings SET currency = 'eur'`, check)

	// Users and sessions.
	f(`INSERT INTO users (email, password_hash, role) VALUES ('p@example.com', 'x', 'partner')`, check) // partner user without partner
	f(`INSERT INTO users (email, password_hash, role) VALUES ('ADMIN@example.com', 'x', 'admin')`, unique)
	f(`INSERT INTO sessions (token_hash, user_id, csrf_secret, expires_at) VALUES ('\x00', 1, sha256('s'), now() + interval '1 day')`, check)

	// Ingest: a repeated event id is refused everywhere an event is stored.
	f(`INSERT INTO inbox (topic, event_id, payload_sha256, kafka_partition, kafka_offset) VALUES ('orders', 'e1', sha256('x'), 0, 1)`, unique)
	f(`INSERT INTO inbox (topic, event_id, payload_sha256, kafka_partition, kafka_offset) VALUES ('identities', 'e1', sha256('x'), 0, 1)`, ok)
	f(`INSERT INTO order_events (event_id, order_id, type, at, payload) VALUES ('e1', 'o1', 'order.placed', now(), '{}')`, unique)
	f(`INSERT INTO order_events (event_id, order_id, type, at, payload) VALUES ('e2', 'o9', 'order.refunded', now(), '{}')`, ok) // a refund before its order waits
	f(`INSERT INTO order_events (event_id, order_id, type, at, payload) VALUES ('e3', 'o1', 'order.lost', now(), '{}')`, check)
	f(`INSERT INTO identities (event_id, device_token, customer_id, at) VALUES ('i1', 'd2', 'c2', now())`, unique)
	f(`INSERT INTO outbox (topic, event_id, key, payload) VALUES ('store_credits', 'sc1', '1', '{}')`, unique)
	// An outbox row of several messages carries them in batch (00370), and
	// no payload, or as before 00370 in payload.messages; a row of one
	// message in payload.
	f(`INSERT INTO outbox (topic, event_id, key, payload, messages) VALUES ('commissions', 'b1', '', '{"event_id": "x"}', 2)`, check)
	f(`INSERT INTO outbox (topic, event_id, key, batch, messages) VALUES ('commissions', 'b1', '', convert_to(E'7\t{}\n', 'UTF8'), 0)`, check)
	f(`INSERT INTO outbox (topic, event_id, key, batch) VALUES ('commissions', 'b1', '', convert_to(E'7\t{}\n', 'UTF8'))`, check)
	f(`INSERT INTO outbox (topic, event_id, key, payload, batch, messages) VALUES ('commissions', 'b1', '', '{}', convert_to(E'7\t{}\n', 'UTF8'), 1)`, check)
	f(`INSERT INTO outbox (topic, event_id, key) VALUES ('commissions', 'b1', '')`, check)
	f(`INSERT INTO outbox (topic, event_id, key, batch, messages) VALUES ('commissions', 'b1', '', convert_to(E'7\t{"event_id": "f1"}\n', 'UTF8'), 1)`, ok)
	f(`INSERT INTO outbox (topic, event_id, key, payload, messages) VALUES ('commissions', 'b2', '', '{"messages": [{"key": "7", "value": {"event_id": "f2"}}]}', 1)`, ok)

	// Orders and lines: positive quantities, no refund beyond what was bought.
	f(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o1', 'l2', 'p2', -1, 100)`, check)
	f(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o1', 'l2', 'p2', 0, 100)`, check)
	f(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o1', 'l2', 'p2', 1, -100)`, check)
	f(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor, discount_minor) VALUES ('o1', 'l2', 'p2', 1, 100, 101)`, check)
	f(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o1', 'l1', 'p2', 1, 100)`, unique)
	f(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ('o9', 'l1', 'p2', 1, 100)`, foreign)
	f(`UPDATE order_lines SET refunded_quantity = 3 WHERE order_id = 'o1'`, check)
	f(`UPDATE order_lines SET refunded_amount_minor = 2001 WHERE order_id = 'o1'`, check)
	f(`UPDATE order_lines SET refunded_quantity = 2, refunded_amount_minor = 2000 WHERE order_id = 'o1'`, ok)
	f(`UPDATE orders SET shipping_fee_minor = -1`, check)
	f(`UPDATE orders SET status = 'cancelled'`, check) // cancelled needs cancelled_at

	// Bindings: at most one open binding per customer; history is allowed.
	f(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ('c1', 1, 'claim', now())`, unique)
	f(`UPDATE customer_bindings SET detached_at = now() WHERE customer_id = 'c1';
	   INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ('c1', 1, 'claim', now())`, ok)
	f(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ('c2', 1, 'identity', now())`, check) // identity needs its event

	// Attribution: one current decision, evidence for the winning rule.
	f(`INSERT INTO attributions (order_id, version, rule) VALUES ('o1', 2, 'none')`, unique)
	f(`UPDATE attributions SET superseded_at = now();
	   INSERT INTO attributions (order_id, version, rule) VALUES ('o1', 2, 'none')`, ok)
	f(`UPDATE attributions SET click_id = NULL`, check)
	f(`UPDATE attributions SET rule = 'lucky'`, check)

	// Commissions: amounts and states agree.
	commission := func(cols, vals string) string {
		return `INSERT INTO commissions (order_id, line_id, attribution_version, partner_id, currency, base_minor, rate_upct, rate_rule, amount_minor` + cols +
			`) VALUES ('o1', 'l1', 1, 1, 'EUR', 2000, 10000000, 'program_default', 200` + vals + `)`
	}
	f(commission("", ""), ok)
	f(commission("", "")+`; `+commission("", ""), unique)
	f(commission("", "")+`; `+strings.Replace(commission("", ""), "1, 1, 'EUR'", "1, 2, 'EUR'", 1), unique) // another partner on the same line of the same decision
	f(commission(", state", ", 'approved'"), check)                                                         // approved needs approved_at
	f(commission(", state, approved_at", ", 'approved', now()"), ok)
	f(commission(", state, voided_amount_minor", ", 'voided', 100"), check)
	f(commission(", state, voided_amount_minor", ", 'voided', 200"), ok)
	f(commission(", state, voided_amount_minor", ", 'partially_voided', 50"), ok)
	f(commission(", voided_amount_minor", ", 201"), check)
	f(commission(", state, approved_at, clawed_back_amount_minor", ", 'clawed_back', now(), 200"), ok)
	f(commission(", state, approved_at, clawed_back_amount_minor", ", 'approved', now(), 20"), check)
	f(strings.Replace(commission("", ""), "'program_default'", "'magic'", 1), check)
	f(strings.Replace(commission("", ""), "200)", "-1)", 1), check)
	// No foreign keys on the settlement hot path (00010): the settler writes
	// commissions with their attribution; a missing parent is not refused here.
	f(strings.Replace(commission("", ""), "1, 1, 'EUR'", "2, 1, 'EUR'", 1), ok)

	// Rates: one row per scope; product xor category.
	f(`INSERT INTO commission_rates (product_id, rate_upct) VALUES ('p1', 1)`, unique)
	f(`INSERT INTO commission_rates (partner_id, product_id, rate_upct) VALUES (1, 'p1', 1)`, ok)
	f(`INSERT INTO commission_rates (product_id, category_id, rate_upct) VALUES ('p2', 'c', 1)`, check)
	f(`INSERT INTO commission_rates (rate_upct) VALUES (1)`, check)

	// Links.
	f(`INSERT INTO links (code, partner_id, kind, target_url) VALUES ('zzzz9999', 1, 'link', 'https://shop.example/p1')`, unique) // same target twice
	f(`INSERT INTO links (code, partner_id, kind, target_url) VALUES ('abcd1234', 1, 'deep', 'https://shop.example/x')`, unique)
	f(`INSERT INTO links (code, partner_id, kind, target_url) VALUES ('a/b', 1, 'link', 'https://shop.example/y')`, check)
	f(`INSERT INTO links (code, partner_id, kind, target_url) VALUES ('qqqq1111', 1, 'link', 'javascript:alert(1)')`, check)

	// Money requests: positive amounts, one row per idempotency key.
	f(`INSERT INTO payouts (partner_id, amount_minor, currency, idempotency_key) VALUES (1, 0, 'EUR', 'k2')`, check)
	f(`INSERT INTO payouts (partner_id, amount_minor, currency, idempotency_key) VALUES (1, 100, 'EUR', 'k1')`, unique)
	f(`UPDATE payouts SET status = 'paid'`, check) // paid needs paid_at
	f(`UPDATE payouts SET status = 'paid', paid_at = now(), reference = 'TRX-1'`, ok)
	f(`INSERT INTO adjustments (partner_id, amount_minor, currency, reason, idempotency_key) VALUES (1, -500, 'EUR', 'correction', 'a1')`, ok)
	f(`INSERT INTO adjustments (partner_id, amount_minor, currency, reason, idempotency_key) VALUES (1, 0, 'EUR', 'nothing', 'a2')`, check)
	f(`INSERT INTO penalties (partner_id, order_id, amount_minor, currency, idempotency_key) VALUES (1, 'o9', 500, 'EUR', 'pen1')`, foreign)
	f(`INSERT INTO store_credit_requests (partner_id, customer_id, amount_minor, currency, idempotency_key, status, decided_at) VALUES (1, 'c1', 100, 'EUR', 's1', 'rejected', now())`, check) // rejected needs a reason
	f(`INSERT INTO settlement_runs (job, host, error) VALUES ('settle', 'h', 'boom')`, check)                                                                                                  // an error ends a run
	f(`INSERT INTO partner_applications (name, email) VALUES ('A', 'a@example.com'), ('A', 'A@example.com')`, unique)                                                                          // one open application per e-mail
	f(`INSERT INTO bank_accounts (partner_id, holder, iban) VALUES (1, 'S', 'de89 3704')`, check)
	f(`INSERT INTO order_overrides (order_id, partner_id) VALUES ('o1', NULL)`, ok) // NULL partner: remove
	f(`INSERT INTO customers (customer_id, first_seen_at) VALUES (NULL, now())`, notNull)
}

// TestPostgresGoTypes checks the contracts between column types and Go:
// durations scan into time.Duration, rates are money.Rate units.
func TestPostgresGoTypes(t *testing.T) {
	ctx, conn := connectTest(t)

	var rate, reserve int64
	var window, binding time.Duration
	err := conn.QueryRow(ctx, `SELECT default_rate_upct, reserve_upct, attribution_window, binding_window FROM program_settings`).
		Scan(&rate, &reserve, &window, &binding)
	if err != nil {
		t.Fatal(err)
	}
	if money.Rate(rate) != money.Percent(10) || money.Rate(reserve) != money.Percent(10) {
		t.Errorf("default rate, reserve = %d, %d, want money.Percent(10) = %d", rate, reserve, money.Percent(10))
	}
	if window != 365*24*time.Hour || binding != 24*time.Hour {
		t.Errorf("attribution, binding window = %v, %v, want 8760h, 24h (DESIGN 5)", window, binding)
	}
	want := 36*time.Hour + 90*time.Second
	if _, err := conn.Exec(ctx, `UPDATE program_settings SET auto_approve_after = $1`, want); err != nil {
		t.Fatal(err)
	}
	var got time.Duration
	if err := conn.QueryRow(ctx, `SELECT auto_approve_after FROM program_settings`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("auto_approve_after round trip = %v, want %v", got, want)
	}
}

// TestPostgresOutboxBatch checks 00330 and 00370: a settlement batch's
// outbox row, large enough to be compressed, is compressed with LZ4;
// outbox_messages lists its messages, those of a batch row of the form
// before 00370 (payload.messages) and a one-message row; 00370's Down turns
// the bytes into payload.messages and its Up leaves every row as it is,
// listed the same.
func TestPostgresOutboxBatch(t *testing.T) {
	ctx, tx := beginTest(t)
	var batch []byte
	for i := range 500 {
		batch = fmt.Appendf(batch, "%d\t{\"v\":1,\"event_id\":\"lz4-%d\",\"amount_minor\":%d}\n", i%7, i, i*13)
	}
	for _, q := range []string{
		`INSERT INTO outbox (topic, event_id, key, payload, messages) VALUES ('commissions', 'old-batch', '',
			'{"messages": [{"key": "3", "value": {"event_id": "old-1", "amount_minor": 5}}, {"value": {"event_id": "old-2", "amount_minor": 6}}]}', 2)`,
		`INSERT INTO outbox (topic, event_id, key, batch, messages) VALUES ('commissions', 'lz4-batch', '', $1, 500)`,
		`INSERT INTO outbox (topic, event_id, key, payload) VALUES ('store_credits', 'sc-1', 'c1', '{"event_id": "sc-1"}')`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, batch)
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	var method string
	if err := tx.QueryRow(ctx, `SELECT coalesce(pg_column_compression(batch), 'none') FROM outbox WHERE event_id = 'lz4-batch'`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	// 00330 and 00370 keep pglz on a server built without LZ4 (not the case
	// for the Debian and PGDG packages this runs on).
	want := "lz4"
	if _, err := tx.Exec(ctx, `SAVEPOINT probe; SET LOCAL default_toast_compression = 'lz4'; RELEASE probe`); err != nil {
		want = "pglz"
		if _, err := tx.Exec(ctx, `ROLLBACK TO probe`); err != nil {
			t.Fatal(err)
		}
	}
	if method != want {
		t.Errorf("outbox batch of %d bytes: compression %s, want %s", len(batch), method, want)
	}
	const digest = `SELECT count(*) || ' ' || string_agg(concat_ws(':', topic, n, key, event_id, payload ->> 'amount_minor'), ' ' ORDER BY outbox_id, n)
		FROM outbox_messages`
	const head = "503 commissions:1:3:old-1:5 commissions:2::old-2:6 commissions:1:0:lz4-0:0 commissions:2:1:lz4-1:13 "
	const tail = " commissions:500:2:lz4-499:6487 store_credits:c1:sc-1"
	got := queryTx[string](t, tx, digest)
	if !strings.HasPrefix(got, head) || !strings.HasSuffix(got, tail) {
		t.Fatalf("outbox messages %.200s ... %s; want %s... ...%s", got, got[max(0, len(got)-80):], head, tail)
	}

	up, down := migrationSections(t, "00370_outbox_batch_bytes.sql")
	if _, err := tx.Exec(ctx, down); err != nil {
		t.Fatalf("00370 Down: %v", err)
	}
	if n := queryTx[int](t, tx, `SELECT jsonb_array_length(payload -> 'messages') FROM outbox WHERE event_id = 'lz4-batch'`); n != 500 {
		t.Fatalf("after 00370 Down the batch row's payload holds %d messages, want 500", n)
	}
	if again := queryTx[string](t, tx, digest); again != got {
		t.Fatalf("after 00370 Down outbox_messages lists\n%.300s\nwant\n%.300s", again, got)
	}
	if _, err := tx.Exec(ctx, up); err != nil {
		t.Fatalf("00370 Up: %v", err)
	}
	if again := queryTx[string](t, tx, digest); again != got {
		t.Fatalf("after 00370 Down and Up outbox_messages lists\n%.300s\nwant\n%.300s", again, got)
	}
	if n := queryTx[int](t, tx, `SELECT count(*) FROM outbox WHERE batch IS NOT NULL`); n != 0 {
		t.Fatalf("00370 Up rewrote %d rows into bytes; it leaves them in the form they were written in", n)
	}
}

// migrationSections returns the Up and Down SQL of a Postgres migration.
func migrationSections(t *testing.T, name string) (up, down string) {
	t.Helper()
	b, err := fs.ReadFile(migrate.PostgresFS(), name)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(b), "-- +goose Up")
	up, down, ok2 := strings.Cut(rest, "-- +goose Down")
	if !ok1 || !ok2 {
		t.Fatalf("%s has no Up and Down sections", name)
	}
	return up, down
}

func queryTx[T any](t *testing.T, tx pgx.Tx, sql string) T {
	t.Helper()
	var v T
	// Simple protocol: no cached plan, as the test recreates views.
	if err := tx.QueryRow(context.Background(), sql, pgx.QueryExecModeSimpleProtocol).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestPostgresSettleQueue checks 00350's triggers: every way an order is
// written queues it at its latest revision, an update that leaves the
// revision alone does not, and settling (deleting the queue row of the
// revision read) leaves a newer revision queued.
func TestPostgresSettleQueue(t *testing.T) {
	ctx, tx := beginTest(t)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	want := func(step, queue string) {
		t.Helper()
		var got string
		err := tx.QueryRow(ctx, `SELECT coalesce(string_agg(q.order_id || '@' || q.revision, ' ' ORDER BY q.placed_at, q.order_id), '')
			FROM settle_queue q JOIN orders o ON o.order_id = q.order_id AND o.placed_at = q.placed_at`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got != queue {
			t.Errorf("%s: queue %q, want %q", step, got, queue)
		}
	}
	exec(`INSERT INTO orders (order_id, currency, placed_at) VALUES ('q1', 'EUR', '2026-01-01')`)
	want("one INSERT", "q1@1")
	exec(`INSERT INTO orders (order_id, currency, placed_at) SELECT 'q' || i, 'EUR', '2026-01-01'::timestamptz + i * interval '1 hour' FROM generate_series(2, 3) i`)
	want("INSERT … SELECT", "q1@1 q2@1 q3@1")
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"}, []string{"order_id", "currency", "placed_at"},
		pgx.CopyFromRows([][]any{{"q4", "EUR", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}))
	if err != nil || n != 1 {
		t.Fatalf("COPY: %d rows, %v", n, err)
	}
	want("COPY", "q1@1 q2@1 q3@1 q4@1")

	settle := `DELETE FROM settle_queue q USING unnest($1::text[], $2::bigint[]) AS s(order_id, rev)
		WHERE q.order_id = s.order_id AND q.revision = s.rev`
	exec(settle, []string{"q1", "q2"}, []int64{1, 1})
	want("q1 and q2 settled", "q3@1 q4@1")
	exec(`UPDATE orders SET updated_at = now() WHERE order_id IN ('q1', 'q3')`)
	want("an update without a new revision", "q3@1 q4@1")
	exec(`UPDATE orders SET revision = revision + 1, status = 'delivered', delivered_at = now() WHERE order_id IN ('q1', 'q3')`)
	want("a new revision", "q1@2 q3@2 q4@1")
	exec(settle, []string{"q3", "q4"}, []int64{1, 1})
	want("settling a revision that is no longer the latest", "q1@2 q3@2")

	// The queue row is the order as of its latest revision.
	exec(`UPDATE orders SET revision = revision + 1, status = 'cancelled', cancelled_at = now(), customer_id = 'c9', device_token = 'd9'
		WHERE order_id = 'q1'`)
	var cust, dev, cur string
	var cancelled bool
	var placed, created time.Time
	if err := tx.QueryRow(ctx, `SELECT customer_id, device_token, currency, cancelled, placed_at, created_at FROM settle_queue WHERE order_id = 'q1'`).
		Scan(&cust, &dev, &cur, &cancelled, &placed, &created); err != nil {
		t.Fatal(err)
	}
	if cust != "c9" || dev != "d9" || cur != "EUR" || !cancelled || !placed.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || created.IsZero() {
		t.Errorf("queue row of q1 = %s %s %s cancelled=%v placed %v created %v", cust, dev, cur, cancelled, placed, created)
	}
}

// TestPostgresSettleQueueLock checks the locking the settler relies on: a
// change to an order whose queue row a pass holds waits until the pass
// commits, and then queues the order again at the new revision. The change
// locks the order as the ingest does (FOR NO KEY UPDATE, then UPDATE), and
// the pass meanwhile records a self-referral, whose foreign key takes KEY
// SHARE on the same order: that must not wait (with FOR UPDATE in the
// ingest the two waited on each other until the deadlock detector ended it).
func TestPostgresSettleQueueLock(t *testing.T) {
	ctx := testContext(t)
	url := testenv.Get(t).PostgresURL(t)
	pass, other, third := connectTo(t, ctx, url), connectTo(t, ctx, url), connectTo(t, ctx, url)
	mustExec(t, pass, `INSERT INTO orders (order_id, currency, placed_at) VALUES ('k1', 'EUR', now());
		INSERT INTO partners (name, email, slug) VALUES ('k', 'k@example.com', 'k')`)
	tx, err := pass.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var rev int64
	if err := tx.QueryRow(ctx, `SELECT revision FROM settle_queue WHERE order_id = 'k1' FOR UPDATE SKIP LOCKED`).Scan(&rev); err != nil || rev != 1 {
		t.Fatalf("pass read k1: revision %d, %v", rev, err)
	}
	changed := make(chan error, 1)
	go func() {
		_, err := other.Exec(ctx, `BEGIN;
			SELECT status FROM orders WHERE order_id = 'k1' FOR NO KEY UPDATE;
			UPDATE orders SET revision = revision + 1, status = 'delivered', delivered_at = now() WHERE order_id = 'k1';
			COMMIT`)
		changed <- err
	}()
	select {
	case err := <-changed:
		t.Fatalf("the change did not wait for the pass: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// Another pass meanwhile skips the row.
	var n int
	if err := third.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM settle_queue WHERE order_id = 'k1' FOR UPDATE SKIP LOCKED) x`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("another pass saw %d locked rows (%v); want it to skip them", n, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := tx.Exec(sctx, `INSERT INTO self_referrals (order_id, partner_id, customer_id) SELECT 'k1', id, 'c1' FROM partners WHERE slug = 'k'`); err != nil {
		t.Fatalf("the pass's self-referral while the change waits: %v", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM settle_queue WHERE order_id = 'k1' AND revision = $1`, rev); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-changed; err != nil {
		t.Fatalf("change after the pass: %v", err)
	}
	if err := pass.QueryRow(ctx, `SELECT revision FROM settle_queue WHERE order_id = 'k1'`).Scan(&rev); err != nil || rev != 2 {
		t.Fatalf("k1 after the change: revision %d, %v; want queued at 2", rev, err)
	}
}

// TestPostgresHotQueriesUseIndexes checks that every query the settler, the
// tracker and the dashboard run on large tables can be served by an index:
// with sequential scans disabled, the plan must not scan the table.
func TestPostgresHotQueriesUseIndexes(t *testing.T) {
	ctx, conn := connectTest(t)
	mustExec(t, conn, `SET enable_seqscan = off`)
	f := func(table, query string) {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+query)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", query, err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", query, err)
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan on "+table) {
			t.Errorf("query %q scans %s sequentially:\n%s", query, table, text)
		}
	}
	// Settler.
	f("settle_queue", `SELECT order_id, customer_id, device_token, currency, placed_at, created_at, revision, cancelled
FROM settle_queue WHERE (placed_at, order_id) > (now(), 'o1') ORDER BY placed_at, order_id LIMIT 500 FOR UPDATE SKIP LOCKED`)
	f("settle_queue", `DELETE FROM settle_queue q USING unnest('{o1}'::text[], '{1}'::bigint[]) AS s(order_id, rev)
WHERE q.order_id = s.order_id AND q.revision = s.rev`)
	f("settle_queue", `SELECT c.id FROM commissions c JOIN orders o ON o.order_id = c.order_id
WHERE c.state IN ('pending', 'partially_voided') AND o.delivered_at <= now()
  AND NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id) ORDER BY c.id LIMIT 500`)
	f("orders", `SELECT order_id FROM orders WHERE delivered_at <= now() - interval '14 days'`)
	f("identities", `SELECT event_id FROM identities WHERE processed_at IS NULL ORDER BY at LIMIT 1000`)
	f("order_events", `SELECT event_id FROM order_events WHERE order_id = 'o1' AND applied_at IS NULL AND ignored_reason IS NULL`)
	f("customer_bindings", `SELECT partner_id FROM customer_bindings WHERE customer_id = 'c1' AND bound_at <= now() ORDER BY bound_at DESC LIMIT 1`)
	f("customer_bindings", `SELECT id FROM customer_bindings WHERE customer_id = 'c1' AND detached_at IS NULL`)
	f("commissions", `SELECT id FROM commissions WHERE order_id = 'o1' AND state IN ('pending', 'partially_voided')`)
	f("attributions", `SELECT partner_id FROM attributions WHERE order_id = 'o1' AND superseded_at IS NULL`)
	f("outbox", `SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 500`)
	f("inbox", `SELECT 1 FROM inbox WHERE topic = 'orders' AND event_id = 'e1'`)
	f("commissions", `SELECT id FROM commissions WHERE state IN ('pending', 'partially_voided') ORDER BY id LIMIT 500`)
	// Ledger (00110 dropped the indexes no query of these needs).
	f("ledger_accounts", `SELECT id FROM ledger_accounts WHERE (owner, kind, currency) IN (('partner:1', 'available', 'EUR'))`)
	f("ledger_transfers", `SELECT id FROM ledger_transfers WHERE idempotency_key = ANY('{k1,k2}')`)
	f("ledger_pending", `SELECT transfer_id FROM ledger_pending WHERE (kind, reference) IN (SELECT * FROM unnest('{commission}'::text[], '{o1/l1/1}'::text[]))`)
	f("ledger_reserves", `SELECT commission_id FROM ledger_reserves WHERE release_at <= now() AND held_minor > 0`)
	f("ledger_postings", `SELECT p.id FROM ledger_postings p WHERE p.account_id = 1 AND p.id > 0 ORDER BY p.id LIMIT 100`)
	// Tracker link cache.
	f("links", `SELECT code FROM links WHERE updated_at > now() - interval '1 minute'`)
	f("partners", `SELECT slug FROM partners WHERE updated_at > now() - interval '1 minute'`)
	// Dashboard.
	f("commissions", `SELECT id FROM commissions WHERE partner_id = 1 ORDER BY created_at DESC LIMIT 50`)
	f("commissions", `SELECT id FROM commissions WHERE state = 'approved' ORDER BY created_at DESC LIMIT 50`)
	f("commissions", `SELECT id FROM commissions ORDER BY created_at DESC LIMIT 50`)
	f("commissions", `SELECT 1 FROM commissions WHERE state IN ('pending', 'partially_voided') LIMIT 10001`)
	f("orders", `SELECT order_id FROM orders ORDER BY placed_at DESC LIMIT 50`)
	f("orders", `SELECT order_id FROM orders WHERE customer_id = 'c1' ORDER BY placed_at DESC LIMIT 50`)
	f("attributions", `SELECT order_id FROM attributions WHERE partner_id = 1 AND superseded_at IS NULL ORDER BY decided_at DESC LIMIT 50`)
	f("customer_bindings", `SELECT customer_id FROM customer_bindings WHERE partner_id = 1 AND detached_at IS NULL ORDER BY bound_at DESC LIMIT 50`)
	f("customers", `SELECT customer_id FROM customers WHERE lower(email) = lower('A@example.com')`)
	f("partners", `SELECT id FROM partners WHERE slug = 'serdar'`)
	f("partners", `SELECT id FROM partners WHERE lower(name) LIKE 'ser%' ORDER BY lower(name) LIMIT 20`)
	f("payouts", `SELECT id FROM payouts WHERE status = 'requested' ORDER BY requested_at LIMIT 50`)
	f("payouts", `SELECT id FROM payouts WHERE partner_id = 1 ORDER BY requested_at DESC LIMIT 50`)
	f("store_credit_requests", `SELECT id FROM store_credit_requests WHERE status = 'requested' ORDER BY requested_at LIMIT 50`)
	f("sessions", `SELECT user_id FROM sessions WHERE token_hash = sha256('t') AND expires_at > now()`)
	f("sessions", `SELECT token_hash FROM sessions WHERE expires_at < now()`)
	f("login_attempts", `SELECT count(*) FROM login_attempts WHERE email = 'a@example.com' AND at > now() - interval '15 minutes' AND NOT success`)
	f("links", `SELECT code FROM links WHERE partner_id = 1 ORDER BY created_at DESC LIMIT 50`)
	f("settlement_runs", `SELECT id FROM settlement_runs ORDER BY started_at DESC LIMIT 50`)
	f("announcement_reads", `SELECT announcement_id FROM announcement_reads WHERE partner_id = 1`)
	f("announcement_recipients", `SELECT announcement_id FROM announcement_recipients WHERE partner_id = 1`)
}

// emptyDatabase creates a database with no migrations applied, dropped when t ends.
func emptyDatabase(t *testing.T, env *testenv.Env) string {
	t.Helper()
	return emptyDatabaseIn(t, env, "")
}

// emptyDatabaseIn creates an empty database in locale ("": the server's).
func emptyDatabaseIn(t *testing.T, env *testenv.Env, locale string) string {
	t.Helper()
	admin := env.PostgresAdminURL()
	name := fmt.Sprintf("empty_%d", time.Now().UnixNano())
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, testenv.CreateDatabaseSQL(name, locale)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Logf("cannot drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("cannot drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// schemaDigest describes the public schema as sorted lines: every column with
// its type, nullability and default, every index and constraint definition,
// and the number of applied goose versions.
func schemaDigest(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `
		SELECT format('col %s.%s %s notnull=%s default=%s', c.relname, a.attname,
		              format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p')
		UNION ALL
		SELECT format('idx %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
		UNION ALL
		SELECT format('con %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace
		UNION ALL
		SELECT format('goose versions=%s', count(DISTINCT version_id)) FROM goose_db_version
		ORDER BY 1`)
	if err != nil {
		t.Fatalf("schema digest: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("schema digest: %v", err)
	}
	return strings.Join(lines, "\n")
}

func countVersions(t *testing.T, dbURL string) int {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// foundationFiles lists the embedded foundation migrations (00001-00099).
func foundationFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	entries, err := fs.ReadDir(migrate.PostgresFS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, "000") && strings.HasSuffix(name, ".sql") {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		t.Fatal("no foundation migrations embedded")
	}
	return out
}

// connectTest connects to a fresh test database; the connection closes with t.
func connectTest(t *testing.T) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx := testContext(t)
	return ctx, connectTo(t, ctx, testenv.Get(t).PostgresURL(t))
}

// connectTo opens one more connection to url; it closes with t.
func connectTo(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// beginTest opens a transaction on a fresh test database, rolled back at the end.
func beginTest(t *testing.T) (context.Context, pgx.Tx) {
	t.Helper()
	ctx, conn := connectTest(t)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	return ctx, tx
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(testContext(t), sql); err != nil {
		t.Fatalf("Exec: %v", err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// diffLines shows the lines only in a (-) and only in b (+).
func diffLines(a, b string) string {
	inA := map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		inA[l] = true
	}
	inB := map[string]bool{}
	var out []string
	for _, l := range strings.Split(b, "\n") {
		inB[l] = true
		if !inA[l] {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range strings.Split(a, "\n") {
		if !inB[l] {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPostgresFinalResolutionPerReference checks 00380: a pending transfer
// may have one final resolution per reference (the commissions of a group
// accrual), never two for the same one, and a payout's only one; Down goes
// back to one per transfer while no group exists and refuses, changing
// nothing, once one does.
func TestPostgresFinalResolutionPerReference(t *testing.T) {
	ctx, tx := beginTest(t)
	hash := strings.Repeat("h", 32)
	// try runs q under a savepoint, so that a refusal leaves the transaction usable.
	try := func(q string, args ...any) error {
		_, err := tx.Exec(ctx, `SAVEPOINT s`)
		if err == nil {
			_, err = tx.Exec(ctx, q, args...)
		}
		if err != nil {
			_, _ = tx.Exec(ctx, `ROLLBACK TO s`)
			return err
		}
		_, err = tx.Exec(ctx, `RELEASE s`)
		return err
	}
	transfer := func(key, op, ref string, pending int64, final bool) (int64, error) {
		var p any
		if pending != 0 {
			p = pending
		}
		err := try(`INSERT INTO ledger_transfers (id, idempotency_key, request_hash, operation, partner_id, currency, reference, pending_id, final)
			VALUES ((SELECT coalesce(max(id), 0) + 1 FROM ledger_transfers), $1, $2::bytea, $3, 'p', 'EUR', $4, $5, $6)`, key, hash, op, ref, p, final)
		if err != nil {
			return 0, err
		}
		return queryTx[int64](t, tx, `SELECT max(id) FROM ledger_transfers`), nil
	}
	must := func(id int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	pendingRow := func(transfer int64, kind, ref string) {
		t.Helper()
		must(0, try(`INSERT INTO ledger_pending (transfer_id, kind, reference, partner_id, currency, debit_account_id, credit_account_id, amount_minor)
			VALUES ($1, $2, $3, 'p', 'EUR', 1, 2, 10)`, transfer, kind, ref))
	}
	indexes := func() string {
		return queryTx[string](t, tx, `SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE indexname LIKE 'ledger_transfers_final%'`)
	}
	const after, before = "ledger_transfers_final_resolution_ref ledger_transfers_final_resolution_request", "ledger_transfers_final_resolution"
	if got := indexes(); got != after {
		t.Fatalf("indexes %s, want %s", got, after)
	}
	single := must(transfer("accrue:c0", "accrue", "c0", 0, false))
	pendingRow(single, "commission", "c0")
	must(transfer("void:c0", "void", "c0", single, true))
	up, down := migrationSections(t, "00380_ledger_group_accruals.sql")
	// Down and Up again while every pending transfer has one pending row.
	if err := try(down); err != nil {
		t.Fatalf("00380 Down: %v", err)
	}
	if got := indexes(); got != before {
		t.Fatalf("after 00380 Down: indexes %s, want %s", got, before)
	}
	if err := try(up); err != nil {
		t.Fatalf("00380 Up: %v", err)
	}
	if got := indexes(); got != after {
		t.Fatalf("after 00380 Down and Up: indexes %s, want %s", got, after)
	}

	// A group of two commissions: Down refuses while both are open.
	group := must(transfer("accrue-order:o1", "accrue_group", "o1", 0, false))
	pendingRow(group, "commission", "a")
	pendingRow(group, "commission", "b")
	if err := try(down); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pending transfer %d is a group accrual", group)) {
		t.Fatalf("00380 Down with a group: %v; want a refusal naming transfer %d", err, group)
	}
	if got := indexes(); got != after {
		t.Fatalf("the refused Down left indexes %s, want %s", got, after)
	}
	// Each commission is resolved finally once.
	must(transfer("approve:a", "approve", "a", group, true))
	must(transfer("void:b", "partial_void", "b", group, true))
	if _, err := transfer("void:a", "void", "a", group, true); err == nil || !strings.Contains(err.Error(), "ledger_transfers_final_resolution_ref") {
		t.Fatalf("a second final resolution of commission a: %v; want ledger_transfers_final_resolution_ref to refuse it", err)
	}
	// A payout is resolved finally once, whatever reference its resolution carries.
	payout := must(transfer("payout:x", "payout_request", "x", 0, false))
	pendingRow(payout, "payout", "x")
	must(transfer("paid:x", "payout_paid", "x", payout, true))
	if _, err := transfer("failed:x", "payout_failed", "y", payout, true); err == nil || !strings.Contains(err.Error(), "ledger_transfers_final_resolution_request") {
		t.Fatalf("a second final resolution of payout x: %v; want ledger_transfers_final_resolution_request to refuse it", err)
	}
}
