package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openaff/affiliate/deploy/devstack/internal/sim"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/services"
)

// Demo logins printed by `devstack demo` (a local demo: fixed, so the
// README can name them).
const (
	demoAdminEmail      = "admin@demo.local"
	demoAdminPassword   = "demo-admin-pass"
	demoPartnerPassword = "demo-partner-pass"
	demoShopURL         = "https://shop.example/"
)

// demoPartners are the partners the demo creates; each gets its site link
// (/{slug}), a product link and a category link.
var demoPartners = []struct {
	name, slug, rate, product, category string
}{
	{"Trail Tales", "trailtales", "", "sku-tent-2p", "camping"},
	{"Gear Guru", "gearguru", "12", "sku-hiking-boot", "shoes"},
	{"Camp Crafter", "campcrafter", "", "sku-stove", "camping"},
	{"Urban Hiker", "urbanhiker", "8", "sku-rain-jacket", "clothing"},
}

type demoFlags struct {
	*flags
	bin                                           string
	trackerAddr, dashboardAddr, sinkMA, settlerMA string
	seed                                          uint64
	rate                                          float64
	duration                                      time.Duration
	autoApprove, reservePeriod                    string
	schedule                                      string
}

func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, error) {
	d := &demoFlags{flags: &flags{}}
	fs := flag.NewFlagSet("devstack demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&d.dir, "dir", filepath.Join(defaultDir(), "demo"), "directory of the demo's data and logs; its databases are reset at every start")
	fs.IntVar(&d.st.PostgresPort, "pg-port", 15432, "Postgres port on 127.0.0.1")
	fs.IntVar(&d.st.CHPort, "ch-port", 19000, "ClickHouse native-protocol port on 127.0.0.1")
	fs.IntVar(&d.st.CHHTTPPort, "ch-http-port", 18123, "ClickHouse HTTP port on 127.0.0.1")
	fs.IntVar(&d.st.KafkaPort, "kafka-port", 19092, "Kafka port on 127.0.0.1 (Apache also uses the next port for its controller)")
	fs.StringVar(&d.st.KafkaKind, "kafka", envOr("AFF_KAFKA", "kfake"), `Kafka broker: "kfake" (embedded) or "apache" (AFF_KAFKA)`)
	fs.StringVar(&d.bin, "bin", filepath.Join(filepath.Dir(defaultDir()), "bin"), "directory holding the tracker, settler and dashboard binaries (make build)")
	fs.StringVar(&d.trackerAddr, "tracker-addr", "127.0.0.1:8080", "tracker serve listen address")
	fs.StringVar(&d.dashboardAddr, "dashboard-addr", "127.0.0.1:8081", "dashboard serve listen address")
	fs.StringVar(&d.sinkMA, "sink-metrics-addr", "127.0.0.1:9464", "tracker sink metrics listen address")
	fs.StringVar(&d.settlerMA, "settler-metrics-addr", "127.0.0.1:9465", "settler serve metrics listen address")
	fs.Uint64Var(&d.seed, "seed", 1, "simulator seed: the same seed plays the same visits and orders")
	fs.Float64Var(&d.rate, "rate", 20, "simulator requests per second")
	fs.DurationVar(&d.duration, "duration", 0, "stop everything after this long (0: run until Ctrl-C)")
	fs.StringVar(&d.autoApprove, "auto-approve", "20s", "program setting auto_approve_after: approval this long after delivery")
	fs.StringVar(&d.reservePeriod, "reserve-period", "2m", "program setting reserve_period: reserve released this long after approval")
	fs.StringVar(&d.schedule, "settle-every", "5s", "how often the settler settles, approves, releases reserves and relays")
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devstack demo: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	if d.st.KafkaKind != "kfake" && d.st.KafkaKind != "apache" {
		return nil, fmt.Errorf("-kafka (AFF_KAFKA) = %q: want kfake or apache", d.st.KafkaKind)
	}
	if d.rate <= 0 {
		return nil, fmt.Errorf("-rate %v: must be positive", d.rate)
	}
	if _, err := time.ParseDuration(d.schedule); err != nil {
		return nil, fmt.Errorf("-settle-every %q: %v", d.schedule, err)
	}
	var err error
	if d.dir, err = filepath.Abs(d.dir); err != nil {
		return nil, err
	}
	if d.bin, err = filepath.Abs(d.bin); err != nil {
		return nil, err
	}
	d.st.Dir = d.dir
	return d, nil
}

// child is one of the project's binaries run by the demo.
type child struct {
	name string
	proc *services.Proc
}

// cmdDemo runs the whole platform with a traffic simulator: the dev stack
// (fresh databases), the migrations, tracker serve and sink, settler serve,
// dashboard serve, an admin, partners with links, then the simulator until
// ctx ends (Ctrl-C), -duration passes or a binary exits. Everything it
// started is stopped before it returns.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	for _, b := range []string{"tracker", "settler", "dashboard"} {
		if _, err := os.Stat(filepath.Join(d.bin, b)); err != nil {
			return fmt.Errorf("%s is missing: run make build (or pass -bin)", filepath.Join(d.bin, b))
		}
	}
	if d.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.duration)
		defer cancel()
	}
	began := time.Now()
	svcs, err := demoStack(ctx, d, stdout)
	defer os.Remove(pidPath(d.dir))
	defer os.Remove(statePath(d.dir))
	defer stopAll(stdout, svcs)
	if err != nil {
		return err
	}
	env, secrets := demoEnv(d)
	if err := createTopics(ctx, fmt.Sprintf("127.0.0.1:%d", d.st.KafkaPort), "aff.", 4); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo: settler migrate\n")
	if err := runBinary(ctx, d, env, "migrate", nil, filepath.Join(d.bin, "settler"), "migrate"); err != nil {
		return err
	}
	children, err := startChildren(ctx, d, env)
	defer stopChildren(stdout, children)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo: dashboard create-admin\n")
	pwFile := filepath.Join(d.dir, "admin-password")
	if err := os.WriteFile(pwFile, []byte(demoAdminPassword+"\n"), 0o600); err != nil {
		return err
	}
	if err := runBinary(ctx, d, env, "create-admin", nil, filepath.Join(d.bin, "dashboard"), "create-admin", "--email", demoAdminEmail, "--password-file", pwFile); err != nil {
		return err
	}
	api := newAdminAPI("http://"+d.dashboardAddr, secrets.adminToken)
	links, partners, err := setupProgram(ctx, d, api)
	if err != nil {
		return err
	}
	printBanner(stdout, d, secrets, partners, time.Since(began))
	return simulate(ctx, d, secrets, links, children, stdout)
}

// demoStack resets the demo directory's databases and starts the dev
// stack there, with the pid and state files `devstack status|down` read.
func demoStack(ctx context.Context, d *demoFlags, stdout io.Writer) ([]service, error) {
	if pid := running(d.dir); pid != 0 {
		return nil, fmt.Errorf("a devstack (pid %d) already runs in %s: stop it first (devstack down -dir %s)", pid, d.dir, d.dir)
	}
	ports := map[string]int{"-pg-port": d.st.PostgresPort, "-ch-port": d.st.CHPort, "-ch-http-port": d.st.CHHTTPPort, "-kafka-port": d.st.KafkaPort}
	if d.st.KafkaKind == "apache" {
		ports["-kafka-port (+1, the controller)"] = d.st.KafkaPort + 1
	}
	for _, a := range []struct{ flag, addr string }{{"-tracker-addr", d.trackerAddr}, {"-dashboard-addr", d.dashboardAddr}, {"-sink-metrics-addr", d.sinkMA}, {"-settler-metrics-addr", d.settlerMA}} {
		if p := portOf(a.addr); p > 0 {
			ports[a.flag] = p
		}
	}
	for flagName, p := range ports {
		if services.PortInUse(p) {
			return nil, fmt.Errorf("port %d is in use by another program (a running make dev?): stop it or choose another port with %s", p, flagName)
		}
	}
	// Only the parts the demo writes are removed: -dir may be any directory.
	for _, sub := range []string{"postgres", "clickhouse", "kafka", "spool", "logs"} {
		if err := os.RemoveAll(filepath.Join(d.dir, sub)); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	// Postgres runs as an unprivileged user when we are root: it must enter the directory.
	os.Chmod(d.dir, 0o755)
	d.st.Pid = os.Getpid()
	if err := os.WriteFile(pidPath(d.dir), []byte(strconv.Itoa(d.st.Pid)+"\n"), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "demo: starting Postgres, ClickHouse and Kafka (%s) in %s\n", d.st.KafkaKind, d.dir)
	svcs, err := startAll(ctx, &d.st)
	if err != nil {
		return svcs, err
	}
	if err := createDatabase(ctx, &d.st); err != nil {
		return svcs, err
	}
	b, _ := json.MarshalIndent(&d.st, "", "  ")
	return svcs, os.WriteFile(statePath(d.dir), b, 0o644)
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}

// demoSecrets are the per-run secrets of the demo.
type demoSecrets struct {
	adminToken, shopKey string
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: Go crashes the program if the OS source does
	return hex.EncodeToString(b)
}

// demoEnv is the environment of every binary: the caller's, without any
// AFF_ variable, plus the demo's configuration (DESIGN §4.1).
func demoEnv(d *demoFlags) ([]string, demoSecrets) {
	s := demoSecrets{adminToken: randomHex(24), shopKey: "demo-shop-" + randomHex(12)}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AFF_") {
			env = append(env, kv)
		}
	}
	every := "@every " + d.schedule
	return append(env,
		"AFF_KAFKA_BROKERS="+fmt.Sprintf("127.0.0.1:%d", d.st.KafkaPort),
		"AFF_KAFKA_TOPIC_PREFIX=aff.",
		"AFF_POSTGRES_URL="+d.st.pgURL(),
		"AFF_CLICKHOUSE_ADDR="+fmt.Sprintf("127.0.0.1:%d", d.st.CHPort),
		"AFF_CLICKHOUSE_DB="+Database,
		"AFF_TRACKER_ADDR="+d.trackerAddr,
		"AFF_DASHBOARD_ADDR="+d.dashboardAddr,
		"AFF_SHOP_URL="+demoShopURL,
		"AFF_COOKIE_SECRET="+randomHex(32),
		"AFF_SHOP_API_KEYS="+s.shopKey,
		"AFF_ADMIN_TOKEN="+s.adminToken,
		"AFF_SPOOL_DIR="+filepath.Join(d.dir, "spool"),
		"AFF_SETTLER_SETTLE_SCHEDULE="+every,
		"AFF_SETTLER_APPROVE_SCHEDULE="+every,
		"AFF_SETTLER_RELEASE_SCHEDULE="+every,
		"AFF_SETTLER_RELAY_SCHEDULE="+every,
		// Orders wait for the sink's watermark at most this long.
		"AFF_SETTLER_MAX_WAIT=30s",
	), s
}

// runBinary runs one command to completion, its output in logs/<name>.log.
func runBinary(ctx context.Context, d *demoFlags, env []string, name string, stdin io.Reader, path string, args ...string) error {
	logPath := filepath.Join(d.dir, "logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, stdin, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s failed (%v); last lines of %s:\n%s", filepath.Base(path), strings.Join(args, " "), err, logPath, services.TailFile(logPath, 20))
	}
	return nil
}

// startChildren starts the four long-running binaries, each in its own
// process group (Ctrl-C reaches only devstack, which stops them in order),
// and waits until the HTTP ones answer.
func startChildren(ctx context.Context, d *demoFlags, env []string) ([]child, error) {
	specs := []struct {
		name string
		args []string
	}{
		{"tracker-serve", []string{filepath.Join(d.bin, "tracker"), "serve"}},
		{"tracker-sink", []string{filepath.Join(d.bin, "tracker"), "sink", "-batch-wait", "500ms", "-watermark-interval", "1s", "-metrics-addr", d.sinkMA}},
		{"settler-serve", []string{filepath.Join(d.bin, "settler"), "serve", "-metrics-addr", d.settlerMA}},
		{"dashboard-serve", []string{filepath.Join(d.bin, "dashboard"), "serve"}},
	}
	var out []child
	for _, s := range specs {
		p, err := services.StartProc(services.ProcSpec{Name: s.name, Path: s.args[0], Args: s.args[1:], Dir: d.dir,
			Env: env, LogPath: filepath.Join(d.dir, "logs", s.name+".log"), DeathSignal: syscall.SIGTERM})
		if err != nil {
			return out, err
		}
		out = append(out, child{name: s.name, proc: p})
	}
	for _, h := range []struct{ name, url string }{{"tracker-serve", "http://" + d.trackerAddr + "/healthz"}, {"dashboard-serve", "http://" + d.dashboardAddr + "/healthz"}} {
		if err := waitHTTP(ctx, h.url, out); err != nil {
			return out, fmt.Errorf("%s: %w", h.name, err)
		}
	}
	return out, nil
}

// waitHTTP waits up to a minute for url to answer 200, failing early when
// a child exits.
func waitHTTP(ctx context.Context, url string, children []child) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		if c := exited(children); c != nil {
			return fmt.Errorf("%s exited; last lines of its log:\n%s", c.name, c.proc.LogTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after a minute: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// exited returns a child that has exited, or nil.
func exited(children []child) *child {
	for i := range children {
		if done, _ := children[i].proc.Exited(); done {
			return &children[i]
		}
	}
	return nil
}

// stopChildren stops the tracker first (it drains its clicks to Kafka),
// then the rest together; each gets SIGTERM, then SIGKILL of its process
// group after its grace period.
func stopChildren(stdout io.Writer, children []child) {
	if len(children) == 0 {
		return
	}
	fmt.Fprintf(stdout, "demo: stopping %d programs\n", len(children))
	if children[0].name == "tracker-serve" {
		children[0].proc.Stop(syscall.SIGTERM, 20*time.Second)
		children = children[1:]
	}
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.proc.Stop(syscall.SIGTERM, 40*time.Second)
		}()
	}
	wg.Wait()
}

// setupProgram sets fast program settings, creates the demo partners with
// their links and logins, and returns the links for the simulator.
func setupProgram(ctx context.Context, d *demoFlags, api *adminAPI) ([]sim.Link, []partner, error) {
	prog := map[string]string{"auto_approve_after": d.autoApprove, "reserve_period": d.reservePeriod, "default_rate": "10"}
	if err := api.call(ctx, "PUT", "/api/admin/program", prog, nil); err != nil {
		return nil, nil, err
	}
	var links []sim.Link
	var partners []partner
	for _, dp := range demoPartners {
		p, err := api.ensurePartner(ctx, partner{Name: dp.name, Email: dp.slug + "@demo.local", Slug: dp.slug}, dp.rate)
		if err != nil {
			return nil, nil, err
		}
		partners = append(partners, p)
		links = append(links, sim.Link{URL: p.SiteLink})
		for _, in := range []map[string]string{
			{"url": demoShopURL + "p/" + dp.product, "product_id": dp.product},
			{"url": demoShopURL + "c/" + dp.category, "category_id": dp.category},
		} {
			var l link
			if err := api.call(ctx, "POST", fmt.Sprintf("/api/admin/partners/%d/links", p.ID), in, &l); err != nil {
				return nil, nil, err
			}
			links = append(links, sim.Link{URL: l.URL, ProductID: l.ProductID})
		}
	}
	pn, err := panelLogin(ctx, "http://"+d.dashboardAddr, demoAdminEmail, demoAdminPassword)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range partners {
		if err := pn.setPartnerPassword(ctx, p.ID, demoPartnerPassword); err != nil {
			return nil, nil, err
		}
	}
	return links, partners, nil
}

func printBanner(w io.Writer, d *demoFlags, s demoSecrets, partners []partner, took time.Duration) {
	fmt.Fprintf(w, "\ndemo: ready in %v. Open the dashboard:\n\n", took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "    http://%s/login\n\n", d.dashboardAddr)
	fmt.Fprintf(w, "  admin      %s / %s\n", demoAdminEmail, demoAdminPassword)
	for _, p := range partners {
		fmt.Fprintf(w, "  partner    %s / %s   (site link %s)\n", p.Email, demoPartnerPassword, p.SiteLink)
	}
	fmt.Fprintf(w, "\n  admin API  curl -H 'Authorization: Bearer %s' http://%s/api/admin/program\n", s.adminToken, d.dashboardAddr)
	fmt.Fprintf(w, "  shop API   curl -H 'Authorization: Bearer %s' -d @order.json http://%s/v1/orders\n", s.shopKey, d.trackerAddr)
	fmt.Fprintf(w, "  stack      Postgres %s, ClickHouse 127.0.0.1:%d (http %d), Kafka 127.0.0.1:%d\n", d.st.pgURL(), d.st.CHPort, d.st.CHHTTPPort, d.st.KafkaPort)
	fmt.Fprintf(w, "  logs       %s\n", filepath.Join(d.dir, "logs"))
	fmt.Fprintf(w, "\nThe simulator plays visitors and a shop (seed %d, %v requests/s). Ctrl-C stops everything.\n\n", d.seed, d.rate)
}

// simulate runs the simulator and its progress line until ctx ends or a
// child exits (an error).
func simulate(ctx context.Context, d *demoFlags, s demoSecrets, links []sim.Link, children []child, stdout io.Writer) error {
	r, err := sim.New(sim.Config{TrackerURL: "http://" + d.trackerAddr, ShopKey: s.shopKey, Links: links,
		Currency: money.MustParseCurrency("EUR"), KafkaBrokers: []string{fmt.Sprintf("127.0.0.1:%d", d.st.KafkaPort)},
		TopicPrefix: "aff.", KafkaShare: 0.3, Seed: d.seed, Prefix: "demo" + strconv.FormatUint(d.seed, 10), Rate: d.rate})
	if err != nil {
		return err
	}
	defer r.Close()
	settled, closeDB, err := sim.PostgresSettled(ctx, d.st.pgURL())
	if err != nil {
		return err
	}
	defer closeDB()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A binary that exits by itself ends the demo.
	died := make(chan *child, 1)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if c := exited(children); c != nil {
					died <- c
					cancel()
					return
				}
			}
		}
	}()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		sim.Progress(ctx, stdout, r, settled, 10*time.Second)
	}()
	simErr := r.Run(ctx)
	cancel()
	<-progressDone
	<-watchDone
	select {
	case c := <-died:
		return fmt.Errorf("%s exited by itself; last lines of its log:\n%s", c.name, c.proc.LogTail(20))
	default:
	}
	return simErr
}
