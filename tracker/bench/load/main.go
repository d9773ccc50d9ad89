// Command load is the tracker load benchmark run by bench/load.sh: in one
// invocation it starts a throw-away Postgres (with the schema and one
// link) and Apache Kafka broker, then `tracker serve` producing every click
// to that broker and the bare fasthttp baseline (bench/bare), runs wrk
// against each with the same settings, checks that the tracker's clicks
// reached Kafka, and prints requests/s, p99 latency and the ratio. The runs
// alternate over -rounds rounds (bare then tracker, then tracker then bare,
// ...) and the summary takes medians: the host's speed drifts over minutes,
// and a single pair of runs measured the drift as often as the servers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/services"
)

type options struct {
	tracker, bare  string
	duration       time.Duration
	threads, conns int
	kafkaKind      string
	path           string
	warmup         time.Duration
	rounds         int
	trackerFlags   string
	returning      bool
	cookie         string // set for -returning: sent with every request
}

func main() {
	var o options
	flag.StringVar(&o.tracker, "tracker", "bin/tracker", "tracker binary")
	flag.StringVar(&o.bare, "bare", "bin/tracker-bare", "bare baseline binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk duration per server")
	flag.DurationVar(&o.warmup, "warmup", 20*time.Second, "wrk warm-up per server before the first round, not measured (the broker's JIT keeps compiling for ~20 s of load)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of one run per server, alternating which goes first; the summary takes medians")
	flag.IntVar(&o.threads, "threads", 1, "wrk threads")
	flag.IntVar(&o.conns, "connections", 32, "wrk connections")
	flag.StringVar(&o.kafkaKind, "kafka", "apache", "broker: apache or kfake")
	flag.StringVar(&o.path, "path", "/r/bench123", "request path (the seeded link)")
	flag.BoolVar(&o.returning, "returning", false, "send a valid aff_dt cookie with every request (returning visitors) instead of none (new visitors)")
	flag.StringVar(&o.trackerFlags, "tracker-flags", "", "extra flags for tracker serve, space-separated")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install wrk")
	}
	dir, err := os.MkdirTemp("", "aff-bench-")
	if err != nil {
		return err
	}
	os.Chmod(dir, 0o755) // the unprivileged Postgres user must reach it
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	fmt.Println("starting postgres and kafka ...")
	pg, err := services.StartPostgres(ctx, services.PostgresConfig{Dir: filepath.Join(dir, "pg")})
	if err != nil {
		return err
	}
	defer pg.Kill()
	pgURL := pg.URL("postgres")
	if err := migrate.Postgres(ctx, pgURL); err != nil {
		return err
	}
	if err := seed(ctx, pgURL); err != nil {
		return err
	}
	var brokers string
	brokerPid := os.Getpid() // kfake runs in this process
	if o.kafkaKind == "kfake" {
		kf, err := services.StartKfake(0, 4, "")
		if err != nil {
			return err
		}
		defer kf.Stop()
		brokers = kf.Addr()
	} else {
		k, err := services.StartKafka(ctx, services.KafkaConfig{Dir: filepath.Join(dir, "kafka"), Partitions: 4})
		if err != nil {
			return err
		}
		defer k.Kill()
		brokers = k.Addr()
		brokerPid = k.Proc().Pid()
	}

	trackerAddr, bareAddr := freeAddr(), freeAddr()
	tr := exec.Command(o.tracker, append([]string{"serve", "-addr", trackerAddr}, strings.Fields(o.trackerFlags)...)...)
	tr.Env = append(os.Environ(),
		"AFF_KAFKA_BROKERS="+brokers, "AFF_KAFKA_TOPIC_PREFIX=bench.", "AFF_POSTGRES_URL="+pgURL,
		"AFF_SHOP_URL=https://shop.example", "AFF_COOKIE_SECRET=bench-secret-0123456789",
		"AFF_SHOP_API_KEYS=bench-key-0123456789", "AFF_SPOOL_DIR="+filepath.Join(dir, "spool"))
	trLog, _ := os.Create(filepath.Join(dir, "tracker.log"))
	tr.Stdout, tr.Stderr = trLog, trLog
	if err := tr.Start(); err != nil {
		return err
	}
	defer stop(tr)
	bare := exec.Command(o.bare, "-addr", bareAddr)
	if err := bare.Start(); err != nil {
		return err
	}
	defer stop(bare)
	for _, a := range []string{trackerAddr, bareAddr} {
		if err := waitListen(a, 60*time.Second); err != nil {
			logTail(filepath.Join(dir, "tracker.log"))
			return err
		}
	}

	if o.returning {
		if o.cookie, err = deviceCookie("http://" + trackerAddr + o.path); err != nil {
			return err
		}
	}
	servers := []server{{"bare fasthttp 302", "http://" + bareAddr + o.path, bare.Process.Pid},
		{"tracker serve", "http://" + trackerAddr + o.path, tr.Process.Pid}}
	for _, s := range servers {
		// Warm-up: caches, topics, connections, the Go heap's size, and
		// above all the broker's JIT, which compiled through the first
		// ~20 s of load and cost the tracker's rounds up to twice the
		// broker CPU per click of a warm broker (tracker/README.md).
		wrk(o, s.url, o.warmup)
	}
	rounds := make([][2]result, max(1, o.rounds))
	for i := range rounds {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, k := range order {
			r, out, err := measure(o, servers[k], brokerPid)
			if err != nil {
				return err
			}
			rounds[i][k] = r
			fmt.Printf("round %d, %s: %s\n", i+1, servers[k].name, strings.TrimSpace(out))
		}
	}
	clicks, err := countClicks(brokers, "bench.clicks")
	if err != nil {
		return err
	}
	fmt.Println()
	visitors := "new visitors (no cookie)"
	if o.returning {
		visitors = "returning visitors (valid cookie)"
	}
	fmt.Printf("wrk -t%d -c%d -d%s --latency, %s, one machine, %s Kafka broker, clicks produced to bench.clicks\n\n", o.threads, o.conns, o.duration, visitors, o.kafkaKind)
	fmt.Println("| round | server | requests/s | p99 latency | server CPU per request | broker CPU per request | non-3xx/errors |")
	fmt.Println("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
	var ratios, cpuRatios, p99s, bareP99s []float64
	for i, rr := range rounds {
		for _, r := range rr {
			fmt.Printf("| %d | %s | %.0f | %s | %.1f µs | %.1f µs | %s |\n", i+1, r.name, r.rps, r.p99Text, r.cpuUs, r.brokerUs, r.errors)
		}
		ratios = append(ratios, rr[1].rps/rr[0].rps)
		cpuRatios = append(cpuRatios, rr[1].cpuUs/rr[0].cpuUs)
		p99s, bareP99s = append(p99s, rr[1].p99), append(bareP99s, rr[0].p99)
	}
	fmt.Printf("\ntracker / bare by round: %s\n", percents(ratios))
	fmt.Printf("server CPU per request, tracker / bare: median %.2f (load-independent: the req/s ratio depends on what else runs)\n", median(cpuRatios))
	fmt.Printf("\ntracker / bare = %.1f %% (median of %d rounds; goal >= 80 %%); tracker p99 %.2f ms (median; bare %.2f ms; goal < 5 ms)\n",
		100*median(ratios), len(rounds), median(p99s), median(bareP99s))
	fmt.Printf("clicks in Kafka: %d\n", clicks)
	return nil
}

type server struct {
	name, url string
	pid       int
}

type result struct {
	name     string
	rps, p99 float64 // p99 in ms
	p99Text  string
	errors   string
	cpuUs    float64 // server CPU (user+sys) per request, µs
	brokerUs float64 // broker CPU per request, µs
}

// measure runs wrk against s for o.duration and takes the CPU that s and
// the broker used meanwhile.
func measure(o options, s server, brokerPid int) (result, string, error) {
	cpu0, bcpu0 := cpuTicks(s.pid), cpuTicks(brokerPid)
	out, err := wrk(o, s.url, o.duration)
	cpu1, bcpu1 := cpuTicks(s.pid), cpuTicks(brokerPid)
	if err != nil {
		return result{}, out, fmt.Errorf("wrk %s: %w\n%s", s.name, err, out)
	}
	r := result{name: s.name}
	r.rps, r.p99Text, r.p99, r.errors = parseWrk(out)
	if reqs := r.rps * o.duration.Seconds(); reqs > 0 {
		r.cpuUs = float64(cpu1-cpu0) * 1e6 / clockTicks / reqs
		r.brokerUs = float64(bcpu1-bcpu0) * 1e6 / clockTicks / reqs
	}
	return r, out, nil
}

// median of xs (not empty), which it leaves in their order.
func median(xs []float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// percents formats ratios as percentages, in round order.
func percents(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f %%", 100*x)
	}
	return strings.Join(parts, ", ")
}

func seed(ctx context.Context, url string) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, `INSERT INTO partners (id, name, email, slug) VALUES (1, 'Bench', 'bench@example.com', 'bench');
		INSERT INTO links (code, partner_id, kind, target_url, product_id) VALUES ('bench123', 1, 'link', 'https://shop.example/p/42?ref=bench', '42')`)
	return err
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListen(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, timeout)
}

func stop(c *exec.Cmd) {
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		<-done
	}
}

func logTail(path string) {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	fmt.Fprintf(os.Stderr, "%s:\n%s\n", path, b)
}

func wrk(o options, url string, d time.Duration) (string, error) {
	secs := max(1, int(d.Seconds()))
	args := []string{"-t" + strconv.Itoa(o.threads), "-c" + strconv.Itoa(o.conns), "-d" + strconv.Itoa(secs) + "s", "--latency"}
	if o.cookie != "" {
		args = append(args, "-H", "Cookie: aff_dt="+o.cookie)
	}
	cmd := exec.Command("wrk", append(args, url)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re = regexp.MustCompile(`\n\s+99%\s+([0-9.]+)(us|ms|s)`)
	errRe = regexp.MustCompile(`(Non-2xx or 3xx responses: \d+|Socket errors:[^\n]*)`)
)

// parseWrk reads wrk's output; p99 is in milliseconds.
func parseWrk(out string) (rps float64, p99Text string, p99 float64, errs string) {
	if m := rpsRe.FindStringSubmatch(out); m != nil {
		rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := p99Re.FindStringSubmatch(out); m != nil {
		p99Text = m[1] + m[2]
		p99, _ = strconv.ParseFloat(m[1], 64)
		switch m[2] { // to ms
		case "us":
			p99 /= 1000
		case "s":
			p99 *= 1000
		}
	}
	errs = "none"
	if m := errRe.FindAllString(out, -1); m != nil {
		errs = strings.Join(m, "; ")
	}
	return
}

// countClicks counts the records of topic (up to its high-water marks).
func countClicks(brokers, topic string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	n, idle := 0, 0
	for idle < 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		got := fs.NumRecords()
		n += got
		if got == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return n, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// cpuTicks returns utime+stime of pid (all its threads) in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// deviceCookie follows url once and returns the aff_dt cookie it sets.
func deviceCookie(url string) (string, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "aff_dt" {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("GET %s set no aff_dt cookie", url)
}
