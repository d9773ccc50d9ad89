// Package e2e_test drives the product flows end to end, as its users do:
// visitors with a cookie jar follow tracking links on a real `tracker
// serve`, the shop posts identities and orders to the tracker's /v1 API,
// a real `tracker sink` writes ClickHouse and the watermark, `settler run`
// settles, and admins and partners act through `dashboard serve`. Every
// binary is built once and runs as a process against the package's real
// Postgres, ClickHouse and Kafka (pkg/testenv).
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
)

// binDir holds the binaries TestMain builds; built is closed when the
// build has finished, with buildErr set on failure.
var (
	binDir   string
	built    = make(chan struct{})
	buildErr error
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "aff-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		// The build and the servers' start overlap.
		go func() { buildErr = build(dir); close(built) }()
		code := testenv.Main(m, testenv.Prestart(testenv.PostgresService, testenv.ClickHouseService, testenv.KafkaService))
		<-built
		// The servers are gone by now: kill the processes rather than wait
		// for their graceful stop against them.
		theStack.kill()
		return code
	}()
	os.Exit(code)
}

// build compiles the three binaries of the product into dir (the workspace
// go.work makes the sibling modules resolvable).
func build(dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		"github.com/openaff/affiliate/tracker/cmd/tracker",
		"github.com/openaff/affiliate/settler/cmd/settler",
		"github.com/openaff/affiliate/dashboard/cmd/dashboard")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the binaries: %v\n%s", err, out)
	}
	return nil
}

// stack is one set of processes (tracker serve, tracker sink, dashboard
// serve) over one Postgres database, one ClickHouse database and one topic
// prefix, shared by every flow of the package. Flows run one after another
// and use their own partners, customers, devices and orders.
type stack struct {
	once sync.Once
	err  error

	dir        string
	vars       map[string]string
	pg         *pgxpool.Pool
	trackerURL string
	dashURL    string
	shopURL    string
	adminToken string
	shopKey    string
	currency   string

	mu    sync.Mutex
	procs []*proc
}

var theStack stack

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// get starts the stack on first use.
func (s *stack) get(t *testing.T) *stack {
	t.Helper()
	s.once.Do(func() {
		began := time.Now()
		s.err = s.start(t)
		t.Logf("e2e stack started in %s", time.Since(began).Round(time.Millisecond))
	})
	if s.err != nil {
		t.Fatalf("cannot start the stack: %v\n%s", s.err, s.logTails())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", s.logTails())
		}
	})
	return s
}

func (s *stack) start(t *testing.T) error {
	began := time.Now()
	<-built
	if buildErr != nil {
		return buildErr
	}
	t.Logf("waited %s for the build of the binaries", time.Since(began).Round(time.Millisecond))
	env := testenv.Get(t)
	s.dir = binDir
	stamp := time.Now().UnixNano()
	admin := env.PostgresAdminURL()
	dbName := fmt.Sprintf("e2e_%d", stamp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+dbName)
	conn.Close(context.Background())
	if err != nil {
		return err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return err
	}
	u.Path = "/" + dbName
	trackerAddr, dashAddr := freePort(), freePort()
	s.shopURL = "http://shop.test"
	s.adminToken = randomHex(16)
	s.shopKey = randomHex(16)
	prefix := "e2e" + randomHex(4) + "."
	s.vars = map[string]string{
		"AFF_POSTGRES_URL":       u.String(),
		"AFF_CLICKHOUSE_ADDR":    env.ClickHouseAddr(),
		"AFF_CLICKHOUSE_DB":      dbName,
		"AFF_KAFKA_BROKERS":      strings.Join(env.KafkaBrokers(), ","),
		"AFF_KAFKA_TOPIC_PREFIX": prefix,
		"AFF_TRACKER_ADDR":       trackerAddr,
		"AFF_TRACKER_PUBLIC_URL": "http://" + trackerAddr,
		"AFF_DASHBOARD_ADDR":     dashAddr,
		"AFF_SHOP_URL":           s.shopURL,
		"AFF_COOKIE_SECRET":      randomHex(32),
		"AFF_SHOP_API_KEYS":      s.shopKey,
		"AFF_ADMIN_TOKEN":        s.adminToken,
		"AFF_SPOOL_DIR":          filepath.Join(s.dir, "spool"),
		"AFF_LOG_FORMAT":         "json",
		"AFF_SETTLER_GROUP_ID":   prefix + "settler",
	}
	s.trackerURL = "http://" + trackerAddr
	s.dashURL = "http://" + dashAddr
	// As a deployment does: the topics exist before the binaries start.
	if err := createTopics(ctx, env.KafkaBrokers(), prefix); err != nil {
		return err
	}
	if out, err := s.command("settler", "migrate").CombinedOutput(); err != nil {
		return fmt.Errorf("settler migrate: %v\n%s", err, out)
	}
	if s.pg, err = pgxpool.New(context.Background(), s.vars["AFF_POSTGRES_URL"]); err != nil {
		return err
	}
	// Settings that make the watermark follow within a fraction of a second.
	if err := s.launch("sink", "tracker", "sink", "-metrics-addr", "", "-batch-wait", "20ms",
		"-watermark-interval", "100ms", "-retry-max", "1s"); err != nil {
		return err
	}
	if err := s.launch("tracker", "tracker", "serve", "-batch-wait", "1ms", "-links-poll-interval", "100ms"); err != nil {
		return err
	}
	if err := s.launch("dashboard", "dashboard", "serve"); err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, h := range []string{s.trackerURL + "/healthz", s.dashURL + "/healthz"} {
		for {
			resp, err := http.Get(h)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not healthy within 90 s (last error %v)", h, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var program struct {
		Currency string `json:"currency"`
	}
	if err := s.adminDo("GET", "/api/admin/program", nil, http.StatusOK, &program); err != nil {
		return err
	}
	s.currency = program.Currency
	return nil
}

// command is `<binary> args...` with the stack's environment.
func (s *stack) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.dir, bin), args...)
	cmd.Env = os.Environ()
	for k, v := range s.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// launch starts a long-running process logging to a file.
func (s *stack) launch(name, bin string, args ...string) error {
	f, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := s.command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return nil
}

// kill ends the processes.
func (s *stack) kill() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.log.Close()
	}
	if s.pg != nil {
		s.pg.Close()
	}
}

// logTails returns the last lines of every process log.
func (s *stack) logTails() string {
	var b strings.Builder
	for _, n := range []string{"tracker", "sink", "dashboard", "settler-run"} {
		data, err := os.ReadFile(filepath.Join(s.dir, n+".log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "--- %s.log (last %d of %d lines)\n", n, min(20, len(lines)), len(lines))
		for _, l := range lines[max(0, len(lines)-20):] {
			if len(l) > 600 {
				l = l[:600] + "..."
			}
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// settle waits until the tracker has handed every click to Kafka (its
// metrics) and the sink's clicks watermark has passed that moment, then
// runs `settler run` as a process and requires exit 0.
func (s *stack) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := s.trackerMetrics(t)
		clicks, produced := m[`tracker_redirects_total{outcome="click"}`], m["tracker_clicks_produced_total"]
		if produced >= clicks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tracker produced %v of %v clicks within 30 s (metrics %v)", produced, clicks, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := time.Now()
	for {
		var wm time.Time
		err := s.pg.QueryRow(context.Background(), `SELECT watermark FROM sink_watermarks WHERE topic = 'clicks'`).Scan(&wm)
		if err == nil && wm.After(after) {
			break
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink's clicks watermark (%v, %v) did not pass %v within 30 s", wm, err, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
	began := time.Now()
	out, err := s.command("settler", "run").CombinedOutput()
	_ = os.WriteFile(filepath.Join(s.dir, "settler-run.log"), out, 0o644)
	if err != nil {
		t.Fatalf("settler run: %v\n%s", err, out)
	}
	t.Logf("settler run took %s", time.Since(began).Round(time.Millisecond))
}

// trackerMetrics reads the tracker's Prometheus counters.
func (s *stack) trackerMetrics(t *testing.T) map[string]float64 {
	return testenv.Metrics(t, s.trackerURL+"/metrics")
}

// adminDo calls the admin JSON API with the admin token; it decodes the
// answer into out when out is not nil.
func (s *stack) adminDo(method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.dashURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return nil
}

func (s *stack) admin(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	if err := s.adminDo(method, path, body, want, out); err != nil {
		t.Fatal(err)
	}
}

// partner is a partner created by the admin, with one tracking link.
type partner struct {
	ID   int64
	Slug string
	Link string // the tracking URL of the link (on the tracker)
}

// newPartner creates an active partner through the admin API and a
// tracking link to product (empty: a link to the shop's home page); it
// waits until the tracker has loaded both.
func (s *stack) newPartner(t *testing.T, name, product string) partner {
	t.Helper()
	slug := strings.ToLower(name) + randomHex(3)
	var p struct {
		ID int64 `json:"id"`
	}
	s.admin(t, "POST", "/api/admin/partners", map[string]any{"name": name, "email": slug + "@partners.test", "slug": slug},
		http.StatusCreated, &p)
	target := s.shopURL + "/"
	body := map[string]any{"url": target}
	if product != "" {
		target = s.shopURL + "/p/" + product
		body = map[string]any{"url": target, "product_id": product}
	}
	var l struct {
		Code string `json:"code"`
		URL  string `json:"url"`
	}
	s.admin(t, "POST", fmt.Sprintf("/api/admin/partners/%d/links", p.ID), body, http.StatusCreated, &l)
	if !strings.HasPrefix(l.URL, s.trackerURL+"/") {
		t.Fatalf("tracking link %q is not on the tracker %s", l.URL, s.trackerURL)
	}
	// An unknown code or slug goes to the shop's home page: wait until the
	// tracker sends the link and a deep link of the slug to their targets.
	// The probes use throwaway devices.
	s.waitRedirect(t, l.URL, target)
	s.waitRedirect(t, s.trackerURL+"/"+slug+"/probe", s.shopURL+"/probe")
	return partner{ID: p.ID, Slug: slug, Link: l.URL}
}

func (s *stack) waitRedirect(t *testing.T, from, to string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", from, nil)
		req.Header.Set("User-Agent", "e2e-probe-bot/1.0 (+https://example.com/bot)")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusFound && resp.Header.Get("Location") == to {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tracker did not redirect %s to %s within 30 s", from, to)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browserUA is a desktop browser's user agent: Go's default one is a bot's.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// device is a visitor's browser: a cookie jar that keeps the tracker's
// device cookie. It does not follow the redirect to the shop (the shop is
// played by the test).
type device struct {
	s      *stack
	c      *http.Client
	jar    *cookiejar.Jar
	ownTok string // a token the shop made up for a device that never saw the tracker
}

func (s *stack) newDevice(t *testing.T) *device {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &device{s: s, jar: jar, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// visit follows a tracking URL and requires the 302 to wantTarget.
func (d *device) visit(t *testing.T, link, wantTarget string) {
	t.Helper()
	req, _ := http.NewRequest("GET", link, nil)
	req.Header.Set("User-Agent", browserUA)
	resp, err := d.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantTarget {
		t.Fatalf("GET %s = %d to %q, want 302 to %q", link, resp.StatusCode, resp.Header.Get("Location"), wantTarget)
	}
}

// token is the device token the shop reads from the first-party aff_dt
// cookie: its whole value (README, "the shop reads the aff_dt cookie";
// the clicks carry the same). A device that never came through
// the tracker has no cookie; the shop then uses its own device id.
func (d *device) token(t *testing.T) string {
	t.Helper()
	u, _ := url.Parse(d.s.trackerURL)
	for _, c := range d.jar.Cookies(u) {
		if c.Name == "aff_dt" {
			if _, _, ok := strings.Cut(c.Value, "."); !ok {
				t.Fatalf("aff_dt cookie %q is not token.signature", c.Value)
			}
			return c.Value
		}
	}
	if d.ownTok == "" {
		d.ownTok = "shop-" + randomHex(12)
	}
	return d.ownTok
}

// line is one order line: product, quantity and unit price (decimal string).
type line struct {
	product  string
	qty      int
	price    string
	discount string
}

// shopPost sends events to the tracker's /v1 API as the shop does.
func (s *stack) shopPost(t *testing.T, path string, events ...map[string]any) {
	t.Helper()
	var body bytes.Buffer
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		body.Write(b)
		body.WriteByte('\n')
	}
	req, _ := http.NewRequest("POST", s.trackerURL+path, &body)
	req.Header.Set("Authorization", "Bearer "+s.shopKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s = %d, want 202: %s", path, resp.StatusCode, data)
	}
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// identify tells the tracker that customer logged in on the device.
func (s *stack) identify(t *testing.T, d *device, customer, email string) {
	t.Helper()
	e := map[string]any{"v": 1, "event_id": "id-" + randomHex(8), "at": now(), "device_token": d.token(t), "customer_id": customer}
	if email != "" {
		e["email"] = email
	}
	s.shopPost(t, "/v1/identify", e)
}

// order places an order on the device (nil: none known) by customer (""
// for a guest) and returns its id.
func (s *stack) order(t *testing.T, d *device, customer, shipping string, lines ...line) string {
	t.Helper()
	id := "ord-" + randomHex(6)
	var ls []map[string]any
	for i, l := range lines {
		m := map[string]any{"line_id": fmt.Sprint(i + 1), "product_id": l.product, "quantity": l.qty, "unit_price": l.price}
		if l.discount != "" {
			m["discount"] = l.discount
		}
		ls = append(ls, m)
	}
	e := map[string]any{"v": 1, "event_id": "ev-" + randomHex(8), "type": "order.placed", "order_id": id, "at": now(),
		"currency": s.currency, "lines": ls}
	if d != nil {
		e["device_token"] = d.token(t)
	}
	if customer != "" {
		e["customer_id"] = customer
	}
	if shipping != "" {
		e["shipping_fee"] = shipping
	}
	s.shopPost(t, "/v1/orders", e)
	return id
}

// orderView is GET /api/admin/orders/{order_id}.
type orderView struct {
	OrderID     string `json:"order_id"`
	Settled     bool   `json:"settled"`
	Attribution *struct {
		PartnerID  *int64            `json:"partner_id"`
		Rule       string            `json:"rule"`
		ClickID    *string           `json:"click_id"`
		Candidates []json.RawMessage `json:"candidates"`
	} `json:"attribution"`
	Commissions []struct {
		LineID    string `json:"line_id"`
		PartnerID int64  `json:"partner_id"`
		Amount    string `json:"amount"`
		Rate      string `json:"rate"`
		Voided    string `json:"voided"`
		State     string `json:"state"`
	} `json:"commissions"`
}

func (s *stack) orderView(t *testing.T, id string) orderView {
	t.Helper()
	var o orderView
	s.admin(t, "GET", "/api/admin/orders/"+id, nil, http.StatusOK, &o)
	if o.Attribution == nil {
		t.Fatalf("order %s has no attribution after settler run: %+v", id, o)
	}
	return o
}

// wantAttribution checks the order's decision: the rule and the partner
// (0: none).
func (s *stack) wantAttribution(t *testing.T, id, rule string, partnerID int64) orderView {
	t.Helper()
	o := s.orderView(t, id)
	got := int64(0)
	if o.Attribution.PartnerID != nil {
		got = *o.Attribution.PartnerID
	}
	if o.Attribution.Rule != rule || got != partnerID {
		t.Fatalf("order %s attributed by rule %q to partner %d, want %q to %d (candidates %s)",
			id, o.Attribution.Rule, got, rule, partnerID, o.Attribution.Candidates)
	}
	return o
}

// commissionsByLine returns the order's commissions for partnerID by line:
// amount minus voided, as a decimal string through the ledger's money.
func (s *stack) commissionsByLine(t *testing.T, id string, partnerID int64) map[string]int64 {
	t.Helper()
	rows, err := s.pg.Query(context.Background(), `SELECT line_id, amount_minor - voided_amount_minor - clawed_back_amount_minor
FROM commissions WHERE order_id = $1 AND partner_id = $2`, id, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		k string
		v int64
	}, error) {
		var x struct {
			k string
			v int64
		}
		err := r.Scan(&x.k, &x.v)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, x := range out {
		m[x.k] += x.v
	}
	return m
}

// balance is GET /api/admin/partners/{id}/balance.
type balance struct {
	Currency  string `json:"currency"`
	Pending   string `json:"pending"`
	Available string `json:"available"`
	Reserved  string `json:"reserved"`
}

func (s *stack) balance(t *testing.T, partnerID int64) balance {
	t.Helper()
	var b balance
	s.admin(t, "GET", fmt.Sprintf("/api/admin/partners/%d/balance", partnerID), nil, http.StatusOK, &b)
	return b
}

// createTopics creates the product's topics under prefix and waits until
// every partition has a leader.
func createTopics(ctx context.Context, brokers []string, prefix string) error {
	var names []string
	for _, t := range []string{"clicks", "identities", "orders", "dlq", "commissions", "store_credits"} {
		names = append(names, prefix+t)
	}
	return kafkatopic.Create(ctx, brokers, names, kafkatopic.Spec{Wait: time.Minute})
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
