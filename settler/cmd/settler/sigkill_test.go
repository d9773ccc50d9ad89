package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

// TestSIGKILLedRunsLeaveTheSameLedger feeds the same events to two
// databases through Kafka. One is settled by clean `settler run` processes;
// on the other, `settler run` is SIGKILLed again and again at many points
// (during ingest, settlement, approval, reserve release and the outbox
// relay; chosen by progress thresholds and by jittered delays), then run to
// completion. Both must end with the same business rows and ledger, and the
// ledger's Verify must be clean on both.
func TestSIGKILLedRunsLeaveTheSameLedger(t *testing.T) {
	env := testenv.Get(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points drawn with seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 6))
	clean, killed := freshTargets(t, env), freshTargets(t, env)
	clean["AFF_LOG_FORMAT"], killed["AFF_LOG_FORMAT"] = "json", "json"
	migrateOK(t, clean)
	migrateOK(t, killed)
	killed["AFF_CLICKHOUSE_DB"] = clean["AFF_CLICKHOUSE_DB"] // the clicks are shared
	prefix := env.TopicPrefix(t)
	for name, vars := range map[string]map[string]string{"clean": clean, "killed": killed} {
		vars["AFF_KAFKA_BROKERS"] = strings.Join(env.KafkaBrokers(), ",")
		vars["AFF_KAFKA_TOPIC_PREFIX"] = prefix
		vars["AFF_SETTLER_GROUP_ID"] = name + "-" + prefix
		// Small transactions, so that a pass has many places to be cut.
		vars["AFF_SETTLER_BATCH_SIZE"] = "25"
		vars["AFF_SETTLER_INGEST_BATCH_SIZE"] = "50"
		// One outbox row per relay transaction: a settlement batch's facts
		// share a row (migration 00320), so at the default of 1000 messages
		// the whole relay was a few transactions, over before a kill landed.
		vars["AFF_SETTLER_RELAY_BATCH_SIZE"] = "1"
	}
	now := time.Now().UTC().Truncate(time.Second)
	base := now.Add(-40 * 24 * time.Hour)
	const orders, partners = 1000, 3
	var pools []*pgxpool.Pool
	for _, vars := range []map[string]string{clean, killed} {
		pool, err := pgxpool.New(context.Background(), vars["AFF_POSTGRES_URL"])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		pools = append(pools, pool)
		// Approval 7 days after delivery; reserves due at once, so a pass
		// also releases them.
		sqlExec(t, pool, `UPDATE program_settings SET auto_approve_after = interval '7 days', reserve_period = interval '0 days'`)
		for i := range partners {
			sqlExec(t, pool, `INSERT INTO partners (id, name, email, slug) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $2 || '@example.com', $2)`,
				i+1, fmt.Sprintf("p%d", i))
		}
		sqlExec(t, pool, `INSERT INTO sink_watermarks (topic, watermark) VALUES ('clicks', $1)`, now)
	}
	cleanPool, killedPool := pools[0], pools[1]
	insertClicks(t, env.ClickHouseAddr(), clean["AFF_CLICKHOUSE_DB"], orders, partners, base.Add(-time.Hour))

	// Phase 1: every order placed (by device, or by a customer bound through
	// an identity event), refunds before approval, cancellations,
	// deliveries. Phase 2: refunds after approval and an admin override.
	var phase1, phase2, identities []kafka.Message
	for i := range orders {
		o := fmt.Sprintf("o%04d", i)
		at := base.Add(time.Duration(i) * time.Minute)
		device := fmt.Sprintf("dev%d", i)
		if i%7 == 0 { // bought on another device, after logging in on the clicked one
			identities = append(identities, msg(device, identityEvent("id"+o, "c"+o, device, at.Add(-10*time.Minute))))
			device = "other" + o
		}
		phase1 = append(phase1, msg(o, placedEvent("p"+o, o, "c"+o, device, at,
			lineJSON("l1", "x", 1+i%4, "19.99"), lineJSON("l2", "y", 1, "5.55"))))
		switch i % 5 {
		case 0:
			phase1 = append(phase1, msg(o, refundEvent("r"+o, o, at.Add(time.Hour), lineJSON("l1", "x", 1, "19.99"))))
		case 1:
			phase1 = append(phase1, msg(o, plainEvent("x"+o, "order.cancelled", o, at.Add(time.Hour))))
		case 2, 3:
			phase1 = append(phase1, msg(o, plainEvent("d"+o, "order.delivered", o, at.Add(time.Hour))))
			phase2 = append(phase2, msg(o, refundEvent("r"+o, o, at.Add(72*time.Hour), lineJSON("l2", "y", 1, "5.55"))))
		}
	}
	produce(t, env.KafkaBrokers(), prefix+"identities", identities)
	produce(t, env.KafkaBrokers(), prefix+"orders", phase1)

	var kills []killPoint
	for phase := 1; phase <= 2; phase++ {
		if phase == 2 {
			produce(t, env.KafkaBrokers(), prefix+"orders", phase2)
			for _, pool := range pools {
				sqlExec(t, pool, `WITH o AS (INSERT INTO order_overrides (order_id, partner_id) VALUES ('o0004', 1))
UPDATE orders SET revision = revision + 1 WHERE order_id = 'o0004'`)
			}
		}
		startup := cleanRun(t, clean, cleanPool, phase)
		want := progressOf(t, cleanPool)
		kills = append(kills, killUntilDone(t, rng, killed, killedPool, want, startup, phase)...)
		if a, b := ledgerDump(t, cleanPool), ledgerDump(t, killedPool); a != b {
			t.Fatalf("phase %d: SIGKILLed runs left another state than clean runs:\n%s", phase, diffLines(a, b))
		}
	}

	// The scenario exercised every kind of money movement.
	for _, op := range []string{"accrue_group", "partial_void", "approve", "release_reserve", "clawback"} {
		if n := queryInt(t, clean["AFF_POSTGRES_URL"], `SELECT count(*) FROM ledger_transfers WHERE operation = $1`, op); n == 0 {
			t.Errorf("the scenario wrote no %s transfer", op)
		}
	}
	if n := queryInt(t, clean["AFF_POSTGRES_URL"], `SELECT count(*) FROM attributions WHERE rule = 'customer_binding'`); n == 0 {
		t.Error("no order was attributed through a customer binding")
	}
	for i, pool := range pools {
		r, err := ledger.New(pool, ledger.Options{}).Verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			t.Errorf("ledger Verify of the %s database: %s", []string{"clean", "killed"}[i], r)
		}
	}
	// The kills landed in every stage of a pass.
	stages := map[string]int{}
	for _, k := range kills {
		stages[k.stage]++
	}
	t.Logf("%d SIGKILLs: %v", len(kills), stages)
	if len(kills) < 12 {
		t.Errorf("only %d runs were killed; want at least 12", len(kills))
	}
	for _, s := range []string{"ingest", "ledger", "relay"} {
		if stages[s] == 0 {
			t.Errorf("no run was killed during %s: %v", s, stages)
		}
	}
}

// cleanRun runs `settler run` to completion and returns how long it took
// to change the database for the first time: its start-up.
func cleanRun(t *testing.T, vars map[string]string, pool *pgxpool.Pool, phase int) time.Duration {
	t.Helper()
	cmd := settlerCmd(t, vars, "run")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	p0 := progressOf(t, pool)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited, err := waitTarget(t, pool, done, 0, func(p progress) bool { return p != p0 })
	startup := time.Since(start)
	if !exited {
		err = <-done
	}
	if err != nil {
		t.Fatalf("phase %d: clean settler run: %v\n%s", phase, err, out.String())
	}
	t.Logf("phase %d: a clean run took %s, %s of it before its first write", phase, time.Since(start).Round(time.Millisecond), startup.Round(time.Millisecond))
	return startup
}

// progress is how far the killed database is: inbox rows (ingest), ledger
// transfers (settlement, approval, release) and published outbox rows (relay).
type progress struct{ inbox, ledger, published int }

func progressOf(t *testing.T, pool *pgxpool.Pool) progress {
	t.Helper()
	var p progress
	err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM ledger_transfers),
(SELECT count(*) FROM outbox WHERE published_at IS NOT NULL)`).Scan(&p.inbox, &p.ledger, &p.published)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stage names where a pass at p stands, given the clean database's want.
func (p progress) stage(want progress) string {
	switch {
	case p.inbox < want.inbox:
		return "ingest"
	case p.ledger < want.ledger:
		return "ledger"
	case p.published < want.published:
		return "relay"
	}
	return "done"
}

type killPoint struct {
	stage string
	at    progress
}

// maxKillsPerPhase bounds the SIGKILLs of one phase, maxKillsPerStage those
// within one stage of it (so that every stage gets some).
const (
	maxKillsPerPhase = 16
	maxKillsPerStage = 4
)

// killUntilDone runs `settler run` on the killed database again and again,
// each time SIGKILLed at a new point, until the database has caught up with
// the clean one (or maxKillsPerPhase), then runs it to completion. Two in
// three points are progress thresholds within the stage the database is in
// (a random share, up to half, of what is left of it, so each run moves
// on), the others random delays within the start-up of a run (connections,
// topics, joining the consumer group).
func killUntilDone(t *testing.T, rng *rand.Rand, vars map[string]string, pool *pgxpool.Pool, want progress, startup time.Duration, phase int) []killPoint {
	t.Helper()
	var kills []killPoint
	perStage := map[string]int{}
	for len(kills) < maxKillsPerPhase {
		p0 := progressOf(t, pool)
		stage := p0.stage(want)
		if stage == "done" {
			break
		}
		var (
			delay time.Duration
			reach func(progress) bool
		)
		get := map[string]func(progress) int{
			"ingest": func(p progress) int { return p.inbox },
			"ledger": func(p progress) int { return p.ledger },
			"relay":  func(p progress) int { return p.published },
		}[stage]
		from, to := get(p0), get(want)
		switch {
		case perStage[stage] >= maxKillsPerStage:
			// Enough in this stage: the next kill lands just after it.
			reach = func(p progress) bool { return get(p) >= to }
		case rng.IntN(3) == 0:
			// Killed at the delay or at its first write, if sooner (then
			// later delays are drawn below that time).
			delay = time.Duration(float64(startup) * rng.Float64())
			reach = func(p progress) bool { return p != p0 }
		default:
			v := from + 1 + int(rng.Float64()*float64(to-from-1)/2)
			reach = func(p progress) bool { return get(p) >= v }
		}
		perStage[stage]++
		cmd := settlerCmd(t, vars, "run")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		started := time.Now()
		exited, err := waitTarget(t, pool, done, delay, reach)
		if delay > 0 && time.Since(started) < delay {
			startup = time.Since(started)
		}
		if exited {
			if err != nil {
				t.Fatalf("phase %d: settler run failed on its own: %v\n%s", phase, err, out.String())
			}
			continue // finished before the point
		}
		// Jitter: the kill lands up to 150 ms (a few transactions) after
		// the point was seen, anywhere between two commits.
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		at := progressOf(t, pool)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			continue // it completed in the meantime
		}
		kills = append(kills, killPoint{stage: at.stage(want), at: at})
		evictDeadMembers(t, vars)
	}
	for _, k := range kills {
		t.Logf("phase %d: killed during %s at %+v (clean: %+v)", phase, k.stage, k.at, want)
	}
	if out, err := settlerCmd(t, vars, "run").CombinedOutput(); err != nil {
		t.Fatalf("phase %d: settler run after the kills: %v\n%s", phase, err, out)
	}
	return kills
}

// waitTarget waits until the process exits (exited true) or the target is
// reached: reach true of the database's progress or, when delay > 0, the
// delay elapsed, whichever comes first.
func waitTarget(t *testing.T, pool *pgxpool.Pool, done chan error, delay time.Duration, reach func(progress) bool) (bool, error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	if delay > 0 {
		deadline = time.Now().Add(delay)
	}
	for {
		select {
		case err := <-done:
			return true, err
		case <-time.After(5 * time.Millisecond):
		}
		if reach(progressOf(t, pool)) || (delay > 0 && time.Now().After(deadline)) {
			return false, nil
		}
		if time.Now().After(deadline) {
			t.Fatal("a settler run neither finished nor progressed within 5 minutes")
		}
	}
}

// evictDeadMembers removes the killed process's member from its consumer
// group, as the broker does once the member's 30 s session times out, so
// that the next run joins at once instead of waiting for that timeout.
func evictDeadMembers(t *testing.T, vars map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(strings.Split(vars["AFF_KAFKA_BROKERS"], ",")...), Timeout: 10 * time.Second}
	group := vars["AFF_SETTLER_GROUP_ID"]
	res, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Logf("cannot describe group %s (the next run waits for the session timeout): %v", group, err)
		return
	}
	var members []kafka.LeaveGroupRequestMember
	for _, g := range res.Groups {
		for _, m := range g.Members {
			members = append(members, kafka.LeaveGroupRequestMember{ID: m.MemberID})
		}
	}
	if len(members) == 0 {
		return
	}
	if _, err := client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: group, Members: members}); err != nil {
		t.Logf("cannot evict the dead members of %s (the next run waits for the session timeout): %v", group, err)
	}
}

// ledgerDump renders what the passes wrote, without sequence ids and
// without wall-clock times (each run settles as of its own clock).
func ledgerDump(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT topic, event_id FROM inbox ORDER BY 1, 2`,
		`SELECT order_id, status, revision, (SELECT q.revision FROM settle_queue q WHERE q.order_id = o.order_id) FROM orders o ORDER BY 1`,
		`SELECT order_id, line_id, refunded_quantity, refunded_amount_minor FROM order_lines ORDER BY 1, 2`,
		`SELECT customer_id, partner_id, bound_at, identity_event_id FROM customer_bindings ORDER BY 1, 3`,
		// Binding ids come from a sequence, which killed transactions
		// advance: a binding is named by its customer and time instead.
		`SELECT a.order_id, a.version, a.partner_id, a.rule, a.click_id, b.customer_id, b.bound_at,
(SELECT jsonb_agg(c - 'binding_id') FROM jsonb_array_elements(a.candidates) c)::text,
a.watermark_forced, a.self_referral, a.superseded_at IS NULL
FROM attributions a LEFT JOIN customer_bindings b ON b.id = a.binding_id ORDER BY 1, 2`,
		`SELECT order_id, line_id, attribution_version, partner_id, base_minor, rate_upct, rate_rule, amount_minor, state,
voided_amount_minor, clawed_back_amount_minor, accrual_transfer_key, ledger_ref, approved_at IS NOT NULL FROM commissions ORDER BY 1, 2, 3`,
		`SELECT idempotency_key, operation, partner_id, currency, reference, amount_minor, final FROM ledger_transfers ORDER BY 1`,
		`SELECT owner, kind, currency, debits_pending, credits_pending, debits_posted, credits_posted FROM ledger_accounts ORDER BY 1, 2, 3`,
		`SELECT commission_id, approved_minor, reserve_minor, held_minor, clawed_minor FROM ledger_reserves ORDER BY 1`,
		`SELECT topic, event_id, key, (payload - 'at')::text, published_at IS NOT NULL FROM outbox_messages ORDER BY 2`,
	} {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		n := 0
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
			n++
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		fmt.Fprintf(&b, "-- %d rows\n", n)
	}
	return b.String()
}

// diffLines lists the first lines that differ between a and b.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  clean:  %s\n  killed: %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

func sqlExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// insertClicks records one click of partner (i mod partners)+1 on device
// dev<i> for every i < n, at at.
func insertClicks(t *testing.T, addr, db string, n, partners int, at time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := migrate.Open(ctx, addr, db)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	b, err := ch.PrepareBatch(ctx, "INSERT INTO "+db+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := b.Append(uuid.Must(uuid.NewV7()).String(), at, fmt.Sprintf("dev%d", i), fmt.Sprint(i%partners+1), "l1", uint8(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert clicks: %v", err)
	}
}

func produce(t *testing.T, brokers []string, topic string, msgs []kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 500, AllowAutoTopicCreation: true}
	defer w.Close()
	for i := 0; ; i++ { // a fresh topic may need a moment for its leader
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if i == 40 {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func msg(key, value string) kafka.Message {
	return kafka.Message{Key: []byte(key), Value: []byte(value)}
}

func ts(at time.Time) string { return at.UTC().Format(time.RFC3339) }

func placedEvent(id, order, customer, device string, at time.Time, lines ...string) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"type":"order.placed","order_id":%q,"at":%q,"customer_id":%q,"device_token":%q,"currency":"EUR","lines":[%s],"shipping_fee":"4.90"}`,
		id, order, ts(at), customer, device, strings.Join(lines, ","))
}

func lineJSON(id, product string, qty int, price string) string {
	return fmt.Sprintf(`{"line_id":%q,"product_id":%q,"quantity":%d,"unit_price":%q}`, id, product, qty, price)
}

func refundEvent(id, order string, at time.Time, lines ...string) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"type":"order.refunded","order_id":%q,"at":%q,"currency":"EUR","lines":[%s]}`,
		id, order, ts(at), strings.Join(lines, ","))
}

func plainEvent(id, typ, order string, at time.Time) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"type":%q,"order_id":%q,"at":%q,"currency":"EUR"}`, id, typ, order, ts(at))
}

func identityEvent(id, customer, device string, at time.Time) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"at":%q,"device_token":%q,"customer_id":%q}`, id, ts(at), device, customer)
}
