package server

// The rest of the platform for the browser journey: the tracker (`tracker
// serve` and `tracker sink`) and the settler (`settler run`) as real
// processes built from the workspace, and a tiny shop that sends its
// orders to the tracker as a shop's server would.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/testenv"
)

// binaries are the tracker and settler commands, built once per test
// binary into binDir (removed by TestMain).
var binaries struct {
	once             sync.Once
	dir              string
	tracker, settler string
	err              error
}

// buildBinaries builds tracker/cmd/tracker and settler/cmd/settler from
// this workspace (go.work) once; later calls return the same paths.
func buildBinaries() (tracker, settler string, err error) {
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "aff-e2e-bin-")
		if err != nil {
			binaries.err = err
			return
		}
		binaries.dir = dir
		for _, b := range []struct {
			out *string
			pkg string
		}{{&binaries.tracker, "../../../tracker/cmd/tracker"}, {&binaries.settler, "../../../settler/cmd/settler"}} {
			path := filepath.Join(dir, filepath.Base(b.pkg))
			if out, err := exec.Command("go", "build", "-o", path, b.pkg).CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
			*b.out = path
		}
	})
	return binaries.tracker, binaries.settler, binaries.err
}

// removeBinaries deletes what buildBinaries built, after waiting for a
// build still running (a test that failed early leaves one behind).
func removeBinaries() {
	binaries.once.Do(func() {})
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
}

// lockedBuffer collects a process's output from its pipe goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proc is a platform process started for one test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // set when done is closed
}

// startProc starts bin with args and env (added to this process's
// environment). When t ends it gets SIGTERM (SIGKILL after 20 s); its
// output is logged when t failed or the process did not exit 0.
func startProc(t *testing.T, name string, env map[string]string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = os.Environ()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				t.Errorf("%s did not stop within 20 s of SIGTERM", name)
			}
		}
		if t.Failed() || p.err != nil {
			t.Logf("%s exited (%v); output:\n%s", name, p.err, tail(p.out.String(), 40))
		}
	})
	return p
}

// alive fails t when the process has already exited.
func (p *proc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("%s exited early (%v):\n%s", p.name, p.err, tail(p.out.String(), 40))
	default:
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// shop is a minimal web shop on 127.0.0.1: a product page with a buy
// button whose checkout reads the visitor's aff_dt cookie (127.0.0.1 is
// the tracker's host too, so the browser sends the tracker's cookie, as
// it would on a shared cookie domain) and posts order.placed to the
// tracker's /v1/orders with the shop's API key.
type shop struct {
	srv        *httptest.Server
	trackerURL string
	apiKey     string

	mu     sync.Mutex
	orders []events.Order
}

var shopPage = template.Must(template.New("p").Parse(`<!doctype html><title>Shop</title>
{{if .Order}}<p id="thanks">Thank you! Order <span id="order-id">{{.Order}}</span> is placed.</p>
{{else}}<h1 id="product">Blue shoe</h1><p>200.00 EUR</p>
<form id="buy" method="post" action="/checkout"><input type="hidden" name="product_id" value="p-1"><button>Buy</button></form>{{end}}`))

func startShop(t *testing.T, apiKey string) *shop {
	t.Helper()
	s := &shop{apiKey: apiKey}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /p/1", func(w http.ResponseWriter, r *http.Request) {
		_ = shopPage.Execute(w, struct{ Order string }{})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<!doctype html><h1>Shop home</h1>") })
	mux.HandleFunc("POST /checkout", s.checkout)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *shop) checkout(w http.ResponseWriter, r *http.Request) {
	device := ""
	if c, err := r.Cookie("aff_dt"); err == nil {
		device = c.Value
	}
	s.mu.Lock()
	id := fmt.Sprintf("o-%d", len(s.orders)+1)
	s.mu.Unlock()
	o := events.Order{EventID: events.NewID(), Type: events.OrderPlaced, OrderID: id, At: time.Now().UTC(),
		CustomerID: "cust-" + id, DeviceToken: device, Currency: money.MustParseCurrency("EUR"),
		Lines: []events.Line{{LineID: "1", ProductID: r.FormValue("product_id"), CategoryID: "shoes", Quantity: 1, UnitPriceMinor: 20000}}}
	body, err := json.Marshal(o)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, s.trackerURL+"/v1/orders", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, "tracker: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		http.Error(w, fmt.Sprintf("tracker answered %s: %s", res.Status, b.String()), http.StatusBadGateway)
		return
	}
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.mu.Unlock()
	_ = shopPage.Execute(w, struct{ Order string }{id})
}

// placed returns the orders the tracker accepted.
func (s *shop) placed() []events.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Order(nil), s.orders...)
}

// platform is the tracker and settler side of the journey.
type platform struct {
	env          map[string]string // AFF_* shared by every process
	trackerAddr  string
	settlerBin   string
	serve, sink  *proc
	shop         *shop
	pgURL        string
	chAddr, chDB string
}

// trackerBase is the tracker's public base URL (for generated links).
func (p *platform) trackerBase() string { return "http://" + p.trackerAddr }

// newPlatform reserves the tracker's address and starts the shop; start
// runs the processes once the binaries are built.
func newPlatform(t *testing.T, pgURL, chAddr, chDB string) *platform {
	t.Helper()
	env := testenv.Get(t)
	p := &platform{trackerAddr: freeAddr(t), pgURL: pgURL, chAddr: chAddr, chDB: chDB}
	key := "shop-key-" + events.NewID()
	p.shop = startShop(t, key)
	p.shop.trackerURL = p.trackerBase()
	prefix := env.TopicPrefix(t)
	p.env = map[string]string{
		"AFF_KAFKA_BROKERS":      strings.Join(env.KafkaBrokers(), ","),
		"AFF_KAFKA_TOPIC_PREFIX": prefix,
		"AFF_POSTGRES_URL":       pgURL,
		"AFF_CLICKHOUSE_ADDR":    chAddr,
		"AFF_CLICKHOUSE_DB":      chDB,
		"AFF_SHOP_URL":           p.shop.srv.URL + "/",
		"AFF_COOKIE_SECRET":      "e2e-cookie-secret-" + events.NewID(),
		"AFF_SHOP_API_KEYS":      key,
		"AFF_SPOOL_DIR":          t.TempDir(),
		"AFF_SETTLER_GROUP_ID":   prefix + "settler",
		"AFF_LOG_FORMAT":         "json",
	}
	return p
}

// start creates the topics, then starts `tracker serve` and `tracker sink`
// and waits until the tracker answers /healthz.
func (p *platform) start(t *testing.T, trackerBin, settlerBin string) {
	t.Helper()
	p.settlerBin = settlerBin
	ensureTopics(t, strings.Split(p.env["AFF_KAFKA_BROKERS"], ","), p.env["AFF_KAFKA_TOPIC_PREFIX"],
		"clicks", "identities", "orders", "commissions", "store_credits", "dlq")
	p.serve = startProc(t, "tracker serve", p.env, trackerBin, "serve", "-addr", p.trackerAddr, "-batch-wait", "5ms")
	p.sink = startProc(t, "tracker sink", p.env, trackerBin, "sink", "-batch-wait", "100ms",
		"-watermark-interval", "250ms", "-metrics-addr=")
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.serve.alive(t)
		p.sink.alive(t)
		res, err := http.Get(p.trackerBase() + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker serve not healthy within 60 s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ensureTopics creates the platform's topics (as an operator does before
// the consumers start: a kafka-go consumer group over a missing topic can
// stall until its next rebalance) and waits until each has leaders.
func ensureTopics(t *testing.T, brokers []string, prefix string, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := make([]string, len(names))
	for i, n := range names {
		full[i] = prefix + n
	}
	if err := kafkatopic.Create(ctx, brokers, full, kafkatopic.Spec{Wait: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}
}

// waitSettleable waits until the tracker has handed every click it
// recorded to Kafka (its metrics: clicks wait in a queue, or a spool, on
// their way) and then until the sink's clicks watermark (sink_watermarks,
// what the settler waits for) has passed both that moment and at: every
// click until then is in ClickHouse. The watermark alone is not enough: it
// counts a caught-up partition as "everything until now", which cannot
// see clicks still inside the tracker.
func (p *platform) waitSettleable(t *testing.T, pool *pgxpool.Pool, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.serve.alive(t)
		m := p.trackerMetrics(t)
		clicks, produced := m[`tracker_redirects_total{outcome="click"}`], m["tracker_clicks_produced_total"]
		if clicks > 0 && produced >= clicks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tracker produced %v of %v clicks within 60 s", produced, clicks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now := time.Now(); now.After(at) {
		at = now
	}
	var wm time.Time
	for {
		p.sink.alive(t)
		err := pool.QueryRow(context.Background(), `SELECT watermark FROM sink_watermarks WHERE topic = 'clicks'`).Scan(&wm)
		if err == nil && wm.After(at) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink clicks watermark %v (err %v) has not passed %v within 60 s", wm, err, at)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// trackerMetrics reads the counters of the tracker's GET /metrics.
func (p *platform) trackerMetrics(t *testing.T) map[string]float64 {
	return testenv.Metrics(t, p.trackerBase()+"/metrics")
}

// settlerRun runs `settler run` once as a process and fails t unless it
// exits 0 within 2 minutes.
func (p *platform) settlerRun(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.settlerBin, "run")
	cmd.Env = os.Environ()
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("settler run: %v after %v:\n%s", err, time.Since(start).Round(time.Millisecond), tail(string(out), 40))
	}
	t.Logf("settler run took %v", time.Since(start).Round(time.Millisecond))
}
