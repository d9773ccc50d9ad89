package settle

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/settler/internal/chtest"
	"github.com/openaff/affiliate/settler/internal/ingest"
)

// benchOrders ingests n orders of 3 lines, each attributed by a device
// click, starting at order number from.
func benchOrders(b *testing.B, f *fixture, from, n int, partner int64) {
	b.Helper()
	ctx := context.Background()
	batch, err := f.ch.PrepareBatch(ctx, "INSERT INTO "+f.chDB+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]ingest.Message, 0, n)
	for i := from; i < from+n; i++ {
		at := T0.Add(time.Duration(i) * time.Second)
		if err := batch.Append(fmt.Sprintf("00000000-0000-7000-8000-%012d", i), at.Add(-time.Minute), fmt.Sprintf("dev%d", i), fmt.Sprint(partner), "l", uint8(0)); err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, ingest.Message{Topic: ingest.TopicOrders, Offset: int64(i), Value: []byte(placed(fmt.Sprintf("e%d", i), fmt.Sprintf("o%08d", i),
			fmt.Sprintf("c%d", i), fmt.Sprintf("dev%d", i), at, line("1", "a", 1, "10.00"), line("2", "b", 2, "5.00"), line("3", "c", 1, "1.99")))})
	}
	if err := batch.Send(); err != nil {
		b.Fatal(err)
	}
	for len(msgs) > 0 {
		k := min(len(msgs), 1000)
		if err := pgx.BeginTxFunc(ctx, f.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			_, _, err := ingest.ApplyBatch(ctx, tx, ingest.EventsDecoder(), msgs[:k])
			return err
		}); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[k:]
	}
	f.watermark(T0.Add(time.Duration(from+n) * time.Second))
}

// BenchmarkSettlePass measures a pass over new orders (ns/op per order)
// against the baseline of an incremental pass that finds nothing new on the
// same history: the second must not grow with history.
func BenchmarkSettlePass(b *testing.B) {
	const orders = 2000
	env := testenv.Get(b)
	pool, err := pgxpool.New(context.Background(), env.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	f := newFixtureOn(b, pool, chtest.DB(b))
	f.s.opts.BatchSize = 500
	var p int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO partners (name, email, slug) VALUES ('b', 'b@example.com', 'b') RETURNING id`).Scan(&p); err != nil {
		b.Fatal(err)
	}
	next := 0
	b.Run("new_orders", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			benchOrders(b, f, next, orders, p)
			next += orders
			b.StartTimer()
			c, err := f.s.Settle(context.Background(), T0.Add(time.Duration(next)*time.Second))
			if err != nil || c.Orders != orders {
				b.Fatalf("settled %+v, %v", c, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*orders), "ns/order")
	})
	b.Run("nothing_new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c, err := f.s.Settle(context.Background(), T0.Add(time.Duration(next)*time.Second)); err != nil || c.Orders != 0 {
				b.Fatalf("settled %+v, %v", c, err)
			}
		}
	})
}

// History benchmark sizes (environment, so `go test -bench` stays usable):
// AFF_BENCH_ORDERS orders of 3 lines each (default 20000), AFF_BENCH_CLICKS
// clicks (default 10 per order), AFF_BENCH_NEW orders of the incremental
// pass (default 1000); AFF_BENCH_BATCH and AFF_BENCH_WORKERS set the
// settler's batch size (DefaultBatchSize) and order workers (3). The size is
// AFF_BENCH_ORDERS=1000000 AFF_BENCH_CLICKS=10000000 (settler/bench/settle.sh).
func benchSize(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// histPartners is how many partners the history's clicks spread over.
const histPartners = 100

// seedClicks inserts n clicks in ClickHouse, server-side (INSERT SELECT from
// numbers), over devices d0..d(devices-1): click k is on device k mod
// devices, of partner k mod 100, at T0-30d + k*(30d/n), so every device
// has about n/devices clicks spread over the 30 days before T0.
func seedClicks(b *testing.B, f *fixture, partners []int64, n, devices int) {
	b.Helper()
	ids := make([]string, len(partners))
	for i, p := range partners {
		ids[i] = "'" + strconv.FormatInt(p, 10) + "'"
	}
	span := int64(30 * 24 * 3600)
	q := fmt.Sprintf(`INSERT INTO %s.clicks (click_id, at, device_token, partner_id, link_id, bot)
SELECT concat('00000000-0000-7000-8000-', substring(toString(1000000000000 + number), 2, 12)),
       toDateTime(%d + intDiv(number * %d, %d), 'UTC'),
       concat('d', toString(number %% %d)),
       [%s][number %% %d + 1],
       concat('l', toString(number %% 1000)),
       0
FROM numbers(%d)`, f.chDB, T0.Unix()-span, span, n, devices, strings.Join(ids, ","), len(ids), n)
	if err := f.ch.Exec(context.Background(), q); err != nil {
		b.Fatalf("cannot seed clicks: %v", err)
	}
}

// seedOrders copies orders from..from+n-1 (3 lines each) into orders and
// order_lines, as the ingest leaves them: unsettled revision 1. Order i is
// placed at T0 + i*every on device d(3i mod devices) by customer c(i); one
// in ten is delivered a day later.
func seedOrders(b *testing.B, f *fixture, from, n, devices int, every time.Duration) {
	b.Helper()
	ctx := context.Background()
	i := from
	_, err := f.pool.CopyFrom(ctx, pgx.Identifier{"orders"}, []string{"order_id", "customer_id", "device_token", "currency", "placed_at", "status", "delivered_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= from+n {
				return nil, nil
			}
			at := T0.Add(time.Duration(i) * every)
			row := []any{fmt.Sprintf("o%09d", i), "c" + strconv.Itoa(i), "d" + strconv.Itoa(3*i%devices), "EUR", at, "placed", nil}
			if i%10 == 0 { // delivered a day later, due for approval 14 days after that
				row[5], row[6] = "delivered", at.Add(24*time.Hour)
			}
			i++
			return row, nil
		}))
	if err != nil {
		b.Fatalf("cannot seed orders: %v", err)
	}
	i, l := from, 0
	_, err = f.pool.CopyFrom(ctx, pgx.Identifier{"order_lines"}, []string{"order_id", "line_id", "product_id", "category_id", "quantity", "unit_price_minor", "discount_minor"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= from+n {
				return nil, nil
			}
			p := (i*7 + l*131) % 1000
			row := []any{fmt.Sprintf("o%09d", i), strconv.Itoa(l + 1), "p" + strconv.Itoa(p), "k" + strconv.Itoa(p%20),
				int64(1 + (i+l)%3), int64(199 + p*37%9800), int64(0)}
			if l++; l == 3 {
				i, l = i+1, 0
			}
			return row, nil
		}))
	if err != nil {
		b.Fatalf("cannot seed order lines: %v", err)
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE orders; ANALYZE order_lines`); err != nil {
		b.Fatal(err)
	}
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// treeCPU returns the CPU seconds (user + system) used so far by this
// process and every process it started (the test's Postgres and ClickHouse
// servers and their reaped children): on a shared machine it measures the
// work of a pass better than the wall clock does.
func treeCPU(b *testing.B) float64 {
	b.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	type proc struct {
		ppid  int
		ticks int64
		comm  string
	}
	procs := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the command, which is in parentheses and may hold spaces.
		i := strings.LastIndexByte(string(data), ')')
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var ticks int64
		for _, v := range f[11:15] { // utime stime cutime cstime
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
		procs[pid] = proc{ppid, ticks, string(data[strings.IndexByte(string(data), '(')+1 : i])}
	}
	in := map[int]bool{os.Getpid(): true}
	var total int64
	for changed := true; changed; {
		changed = false
		for pid, p := range procs {
			if !in[pid] && in[p.ppid] {
				in[pid], changed = true, true
			}
		}
	}
	by := map[string]int64{}
	for pid := range in {
		total += procs[pid].ticks
		by[procs[pid].comm] += procs[pid].ticks
	}
	cpuBy = by
	return float64(total) / 100 // USER_HZ
}

// cpuBy is the last treeCPU's ticks by process name.
var cpuBy map[string]int64

// startProfiles, when dir is set, profiles the full pass alone (not the
// seeding): this process's Go CPU profile into dir/settler.pprof and, when
// perf is installed (and allowed: root, or perf_event_paranoid <= 0), the
// whole machine's (Postgres and ClickHouse included) into dir/perf.data.
// The returned func stops them. perf's own CPU then counts in the test
// process's (perf is its child, waited for).
func startProfiles(b *testing.B, dir string) func() {
	b.Helper()
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "settler.pprof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	var perf *exec.Cmd
	if path, err := exec.LookPath("perf"); err == nil {
		perf = exec.Command(path, "record", "-a", "-g", "-F", "199", "-o", filepath.Join(dir, "perf.data"))
		perf.Stderr = os.Stderr
		if err := perf.Start(); err != nil {
			b.Logf("perf record did not start: %v", err)
			perf = nil
		}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		how := fmt.Sprintf("go tool pprof -top %s", filepath.Join(dir, "settler.pprof"))
		if perf != nil {
			perf.Process.Signal(os.Interrupt)
			// perf stops on the interrupt; Wait reports how it ended.
			if err := perf.Wait(); err != nil && !strings.Contains(err.Error(), "interrupt") {
				b.Logf("perf record: %v", err)
			}
			how += fmt.Sprintf("; perf report -i %s --comm postgres --children", filepath.Join(dir, "perf.data"))
		}
		b.Logf("profiles of the full pass: %s", how)
	}
}

// resetPeakRSS starts a new VmHWM measurement (Linux clear_refs 5), after
// a GC, so the peak is the pass's and not the seeding's.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	runtime.GC()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("cannot reset the peak RSS: %v", err)
	}
}

// BenchmarkSettleHistory is the benchmark: one full pass (settle,
// auto-approve, reserve release; ingest and the outbox relay excluded) over
// AFF_BENCH_ORDERS orders of 3 lines against AFF_BENCH_CLICKS clicks, then
// an incremental pass over AFF_BENCH_NEW new orders on top of that history
// and a pass that finds nothing new. Metrics: the full pass's seconds,
// orders/s and peak RSS of this process (the settler's side; Postgres and
// ClickHouse are other processes); the incremental pass's seconds and its
// cost per order relative to the full pass's (incr-ratio: 1 means time
// proportional to the new work alone); the idle pass's milliseconds; and
// the full pass's time and CPU over the storage floor measured after it in
// the same run (x-floor-time, x-floor-cpu; storageFloor), a baseline meant
// to let runs on a faster or slower host be compared.
func BenchmarkSettleHistory(b *testing.B) {
	orders := benchSize(b, "AFF_BENCH_ORDERS", 20_000)
	clicks := benchSize(b, "AFF_BENCH_CLICKS", 10*orders)
	fresh := benchSize(b, "AFF_BENCH_NEW", 1000)
	batchSize := benchSize(b, "AFF_BENCH_BATCH", DefaultBatchSize)
	workers := benchSize(b, "AFF_BENCH_WORKERS", 3)
	devices := 3 * (orders + fresh)
	// Orders span 10 days after T0 whatever their number.
	every := 10 * 24 * time.Hour / time.Duration(orders+fresh)
	env := testenv.Get(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		pool, err := pgxpool.New(ctx, env.PostgresURL(b))
		if err != nil {
			b.Fatal(err)
		}
		f := newFixtureOn(b, pool, chtest.DB(b))
		f.s.opts.BatchSize, f.s.opts.Workers = batchSize, workers
		b.Logf("%d orders per batch, %d workers", batchSize, workers)
		var partners []int64
		for i := range histPartners {
			partners = append(partners, f.partner(fmt.Sprintf("p%d", i)))
		}
		// Auto-approval on, so the pass's approval step queries the history.
		f.program(`auto_approve_after = interval '14 days'`)
		// A few product and category rates, so the rate lookup has work.
		f.exec(`INSERT INTO commission_rates (product_id, rate_upct) SELECT 'p' || g * 10, 8000000 FROM generate_series(0, 49) g`)
		f.exec(`INSERT INTO commission_rates (partner_id, category_id, rate_upct) SELECT $1, 'k' || g, 12000000 FROM generate_series(0, 9) g`, partners[0])
		start := time.Now()
		seedClicks(b, f, partners, clicks, devices)
		seedOrders(b, f, 0, orders, devices, every)
		f.watermark(T0.Add(time.Duration(orders+fresh) * every))
		b.Logf("seeded %d orders, %d clicks in %s", orders, clicks, time.Since(start).Round(time.Millisecond))
		now := T0.Add(11 * 24 * time.Hour)
		pgss := os.Getenv("AFF_BENCH_PGSS") != ""
		if pgss {
			f.exec(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
			f.exec(`SELECT pg_stat_statements_reset()`)
		}
		resetPeakRSS(b)
		b.StartTimer()

		stopProfiles := startProfiles(b, os.Getenv("AFF_BENCH_PROFILE"))
		cpu0 := treeCPU(b)
		start = time.Now()
		c := fullPassCounts(b, f, now)
		full := time.Since(start)
		stopProfiles()
		by0 := cpuBy
		cpu := treeCPU(b) - cpu0
		var parts []string
		for k, v := range cpuBy {
			parts = append(parts, fmt.Sprintf("%s %.1f s", k, float64(v-by0[k])/100))
		}
		slices.Sort(parts)
		b.Logf("CPU of the full pass by process: %s", strings.Join(parts, ", "))
		if pgss {
			dumpStatements(b, pool)
		}
		b.StopTimer()
		rss := peakRSS(b)
		if c.Orders != orders || c.Attributed != orders || c.Commissions != 3*orders {
			b.Fatalf("full pass settled %+v; want %d orders attributed, %d commissions", c, orders, 3*orders)
		}
		floorWall, floorCPU := storageFloor(b, pool, workers, (orders+batchSize-1)/batchSize)
		seedOrders(b, f, orders, fresh, devices, every)
		cpu0 = treeCPU(b)
		start = time.Now()
		c = fullPassCounts(b, f, now)
		incr := time.Since(start)
		incrCPU := treeCPU(b) - cpu0
		if c.Orders != fresh || c.Commissions != 3*fresh {
			b.Fatalf("incremental pass settled %+v; want %d orders", c, fresh)
		}
		start = time.Now()
		if c = fullPassCounts(b, f, now); c.Orders != 0 {
			b.Fatalf("idle pass settled %+v", c)
		}
		idle := time.Since(start)
		// The ledger after it all is consistent (and what that check costs at this size).
		start = time.Now()
		report, err := f.ledger.Verify(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if !report.OK() {
			b.Fatalf("ledger Verify after the passes: %s", report)
		}
		b.Logf("ledger Verify: %s in %s", report, time.Since(start).Round(time.Millisecond))
		byDevice := queryOne[int](b, pool, `SELECT count(*) FROM attributions WHERE rule = 'device'`)
		b.Logf("full pass %s, %.1f CPU s (%d orders, %d by device), incremental %s, %.2f CPU s (%d orders), idle %s, peak RSS %.0f MB",
			full.Round(time.Millisecond), cpu, orders, byDevice, incr.Round(time.Millisecond), incrCPU, fresh, idle.Round(time.Millisecond), rss/1e6)
		if byDevice < orders/2 {
			b.Fatalf("only %d of %d orders attributed by device: the clicks do not reach the orders", byDevice, orders+fresh)
		}
		b.ReportMetric(full.Seconds(), "s/full-pass")
		b.ReportMetric(float64(orders)/full.Seconds(), "orders/s")
		b.ReportMetric(rss/1e6, "peak-RSS-MB")
		b.ReportMetric(cpu, "cpu-s/full-pass")
		b.ReportMetric(incr.Seconds(), "s/incr-pass")
		b.ReportMetric((incr.Seconds()/float64(fresh))/(full.Seconds()/float64(orders)), "incr-ratio")
		b.ReportMetric(float64(idle.Microseconds())/1000, "ms/idle-pass")
		b.ReportMetric(full.Seconds()/floorWall.Seconds(), "x-floor-time")
		b.ReportMetric(cpu/floorCPU, "x-floor-cpu")
		pool.Close()
		b.StartTimer()
	}
}

// fullPassCounts runs settle, auto-approve and reserve release as of now
// and returns the settle step's counts.
func fullPassCounts(b *testing.B, f *fixture, now time.Time) Counts {
	b.Helper()
	c, err := f.s.Settle(context.Background(), now)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.s.AutoApprove(context.Background(), now); err != nil {
		b.Fatal(err)
	}
	if _, err := f.s.ReleaseReserves(context.Background(), now); err != nil {
		b.Fatal(err)
	}
	return c
}

// dumpStatements logs the 25 statements that took the most time since
// pg_stat_statements_reset (AFF_BENCH_PGSS=1; settle.sh PGSS=1 also loads
// the module into the server): time, calls, rows, the statement's start.
func dumpStatements(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT round(total_exec_time)::bigint, calls, rows,
left(regexp_replace(query, '\s+', ' ', 'g'), 140) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25`)
	if err != nil {
		b.Fatalf("cannot read pg_stat_statements: %v", err)
	}
	var ms, calls, n int64
	var q string
	_, err = pgx.ForEachRow(rows, []any{&ms, &calls, &n, &q}, func() error {
		b.Logf("%7d ms %7d calls %8d rows  %s", ms, calls, n, q)
		return nil
	})
	if err != nil {
		b.Fatalf("cannot read pg_stat_statements: %v", err)
	}
}
