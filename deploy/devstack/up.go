package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/services"
)

// errUsage reports bad flags; the flag package has already said why.
var errUsage = errors.New("usage")

// Database is the name of the dev stack's Postgres and ClickHouse database.
const Database = "affiliate"

// stack describes a dev stack; it is saved as .dev/devstack.json once every
// service answers.
type stack struct {
	Pid          int    `json:"pid"`
	Dir          string `json:"dir"`
	PostgresPort int    `json:"postgres_port"`
	CHPort       int    `json:"clickhouse_port"`
	CHHTTPPort   int    `json:"clickhouse_http_port"`
	KafkaPort    int    `json:"kafka_port"`
	KafkaKind    string `json:"kafka_kind"`
}

func (s *stack) pgURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.PostgresPort, Database)
}

type flags struct {
	dir string
	st  stack
}

func parseFlags(name string, args []string, stderr io.Writer, withPorts bool) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("devstack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.dir, "dir", defaultDir(), "directory holding the services' data, logs and state (AFF_DEV_DIR)")
	if withPorts {
		fs.IntVar(&f.st.PostgresPort, "pg-port", 15432, "Postgres port on 127.0.0.1")
		fs.IntVar(&f.st.CHPort, "ch-port", 19000, "ClickHouse native-protocol port on 127.0.0.1")
		fs.IntVar(&f.st.CHHTTPPort, "ch-http-port", 18123, "ClickHouse HTTP port on 127.0.0.1")
		fs.IntVar(&f.st.KafkaPort, "kafka-port", 19092, "Kafka port on 127.0.0.1 (Apache also uses the next port for its controller)")
		fs.StringVar(&f.st.KafkaKind, "kafka", envOr("AFF_KAFKA", "kfake"), `Kafka broker: "kfake" (embedded, log in memory) or "apache" (AFF_KAFKA)`)
	}
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devstack %s: unexpected argument %q\n", name, fs.Arg(0))
		return nil, errUsage
	}
	abs, err := filepath.Abs(f.dir)
	if err != nil {
		return nil, err
	}
	f.dir = abs
	f.st.Dir = abs
	if withPorts && f.st.KafkaKind != "kfake" && f.st.KafkaKind != "apache" {
		return nil, fmt.Errorf("-kafka (AFF_KAFKA) = %q: want kfake or apache", f.st.KafkaKind)
	}
	return f, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDir is $AFF_DEV_DIR, else .dev in the checkout holding the working
// directory (the directory with go.work), else ./.dev.
func defaultDir() string {
	if v := os.Getenv("AFF_DEV_DIR"); v != "" {
		return v
	}
	wd, err := os.Getwd()
	if err != nil {
		return ".dev"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, ".dev")
		}
		if d == filepath.Dir(d) {
			return filepath.Join(wd, ".dev")
		}
	}
}

func pidPath(dir string) string   { return filepath.Join(dir, "devstack.pid") }
func statePath(dir string) string { return filepath.Join(dir, "devstack.json") }

// running returns the pid of a live devstack owning dir, or 0.
func running(dir string) int {
	b, err := os.ReadFile(pidPath(dir))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	// A recycled pid belongs to some other program.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err == nil && !strings.Contains(string(cmdline), "devstack") {
		return 0
	}
	return pid
}

// readState waits up to wait for the running stack's state file.
func readState(dir string, wait time.Duration) (*stack, error) {
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(statePath(dir))
		if err == nil {
			var s stack
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("cannot read %s: %w", statePath(dir), err)
			}
			return &s, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the dev stack in %s is still starting (no %s after %v)", dir, statePath(dir), wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func printStack(w io.Writer, s *stack) {
	fmt.Fprintf(w, "devstack: Postgres    127.0.0.1:%d  database %s (data in %s)\n", s.PostgresPort, Database, filepath.Join(s.Dir, "postgres"))
	fmt.Fprintf(w, "devstack: ClickHouse  127.0.0.1:%d native, %d http  database %s (data in %s)\n", s.CHPort, s.CHHTTPPort, Database, filepath.Join(s.Dir, "clickhouse"))
	if s.KafkaKind == "apache" {
		fmt.Fprintf(w, "devstack: Kafka       127.0.0.1:%d  Apache Kafka (log in %s)\n", s.KafkaPort, filepath.Join(s.Dir, "kafka"))
	} else {
		fmt.Fprintf(w, "devstack: Kafka       127.0.0.1:%d  kfake, embedded in devstack\n", s.KafkaPort)
		fmt.Fprintf(w, "devstack: NOTE: kfake keeps its log IN MEMORY: every topic and message is LOST when devstack stops.\n")
		fmt.Fprintf(w, "devstack:       Run AFF_KAFKA=apache make dev for the real Apache Kafka broker with its log on disk.\n")
	}
	fmt.Fprintf(w, "# paste into a shell to point the binaries at this stack:\n")
	fmt.Fprintf(w, "export AFF_KAFKA_BROKERS=127.0.0.1:%d\n", s.KafkaPort)
	fmt.Fprintf(w, "export AFF_POSTGRES_URL='%s'\n", s.pgURL())
	fmt.Fprintf(w, "export AFF_CLICKHOUSE_ADDR=127.0.0.1:%d\n", s.CHPort)
	fmt.Fprintf(w, "export AFF_CLICKHOUSE_DB=%s\n", Database)
}

// service is one started service, stopped by stop.
type service struct {
	name string
	stop func()
	done <-chan struct{} // closed if it exits by itself; nil for kfake
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags("up", args, stderr, true)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	if pid := running(f.dir); pid != 0 {
		s, err := readState(f.dir, 2*time.Minute)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "devstack: already running (pid %d, %s); reusing it.\n", pid, f.dir)
		printStack(stdout, s)
		return nil
	}
	st := f.st
	st.Pid = os.Getpid()
	ports := map[string]int{"-pg-port": st.PostgresPort, "-ch-port": st.CHPort, "-ch-http-port": st.CHHTTPPort, "-kafka-port": st.KafkaPort}
	if st.KafkaKind == "apache" {
		ports["-kafka-port (+1, the controller)"] = st.KafkaPort + 1
	}
	for flagName, p := range ports {
		if services.PortInUse(p) {
			return fmt.Errorf("port %d is in use by another program: stop it or choose another port with %s", p, flagName)
		}
	}
	os.Remove(statePath(f.dir))
	if err := os.WriteFile(pidPath(f.dir), []byte(strconv.Itoa(st.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(pidPath(f.dir))
	defer os.Remove(statePath(f.dir))

	fmt.Fprintf(stdout, "devstack: starting Postgres, ClickHouse and Kafka (%s) in %s\n", st.KafkaKind, f.dir)
	began := time.Now()
	svcs, err := startAll(ctx, &st)
	defer stopAll(stdout, svcs)
	if err != nil {
		return err
	}
	if err := migrateAll(ctx, &st); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(&st, "", "  ")
	if err := os.WriteFile(statePath(f.dir), b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devstack: ready in %v\n", time.Since(began).Round(time.Millisecond))
	printStack(stdout, &st)
	fmt.Fprintf(stdout, "devstack: running; Ctrl-C (or devstack down) stops everything.\n")
	return wait(ctx, stdout, svcs)
}

// startAll starts the three services in parallel.
func startAll(ctx context.Context, st *stack) ([]service, error) {
	var (
		mu   sync.Mutex
		svcs []service
		errs []error
		wg   sync.WaitGroup
	)
	add := func(s service, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		svcs = append(svcs, s)
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		pg, err := services.StartPostgres(ctx, services.PostgresConfig{
			Dir: filepath.Join(st.Dir, "postgres"), Port: st.PostgresPort, Durable: true,
		})
		if err != nil {
			add(service{}, fmt.Errorf("postgres: %w", err))
			return
		}
		add(service{name: "postgres", stop: pg.Stop, done: pg.Proc().Done()}, nil)
	}()
	go func() {
		defer wg.Done()
		ch, err := services.StartClickHouse(ctx, services.ClickHouseConfig{
			Dir: filepath.Join(st.Dir, "clickhouse"), TCPPort: st.CHPort, HTTPPort: st.CHHTTPPort,
		})
		if err != nil {
			add(service{}, fmt.Errorf("clickhouse: %w", err))
			return
		}
		// 18.16 can take 20 s to stop gracefully.
		add(service{name: "clickhouse", stop: func() { ch.Stop(30 * time.Second) }, done: ch.Proc().Done()}, nil)
	}()
	go func() {
		defer wg.Done()
		if st.KafkaKind == "kfake" {
			kf, err := services.StartKfake(st.KafkaPort, 4, "")
			if err != nil {
				add(service{}, fmt.Errorf("kfake: %w", err))
				return
			}
			add(service{name: "kfake", stop: kf.Stop}, nil)
			return
		}
		k, err := services.StartKafka(ctx, services.KafkaConfig{
			Dir: filepath.Join(st.Dir, "kafka"), Port: st.KafkaPort, ControllerPort: st.KafkaPort + 1,
		})
		if err != nil {
			add(service{}, fmt.Errorf("apache kafka: %w", err))
			return
		}
		add(service{name: "kafka", stop: func() { k.Stop(30 * time.Second) }, done: k.Proc().Done()}, nil)
	}()
	wg.Wait()
	return svcs, errors.Join(errs...)
}

func migrateAll(ctx context.Context, st *stack) error {
	if err := createDatabase(ctx, st); err != nil {
		return err
	}
	if err := migrate.Postgres(ctx, st.pgURL()); err != nil {
		return err
	}
	return migrate.ClickHouse(ctx, fmt.Sprintf("127.0.0.1:%d", st.CHPort), Database)
}

// createDatabase creates the Postgres database named Database when missing
// (ClickHouse's is created by its migrations).
func createDatabase(ctx context.Context, st *stack) error {
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", st.PostgresPort)
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	var exists bool
	err = c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&exists)
	if err == nil && !exists {
		_, err = c.Exec(ctx, "CREATE DATABASE "+Database)
	}
	c.Close(context.Background())
	if err != nil {
		return fmt.Errorf("cannot create postgres database %s: %w", Database, err)
	}
	return nil
}

// wait returns when ctx ends (a signal) or a service exits by itself.
func wait(ctx context.Context, stdout io.Writer, svcs []service) error {
	died := make(chan string, len(svcs))
	for _, s := range svcs {
		if s.done != nil {
			go func() {
				select {
				case <-s.done:
					died <- s.name
				case <-ctx.Done():
				}
			}()
		}
	}
	select {
	case <-ctx.Done():
		fmt.Fprintf(stdout, "\ndevstack: stopping\n")
		return nil
	case name := <-died:
		return fmt.Errorf("%s exited by itself; stopping the rest (its log is in the dev directory)", name)
	}
}

// stopAll stops every service, in parallel, and waits for them.
func stopAll(stdout io.Writer, svcs []service) {
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.stop()
		}()
	}
	wg.Wait()
	if len(svcs) > 0 {
		fmt.Fprintf(stdout, "devstack: stopped %d services\n", len(svcs))
	}
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags("status", args, stderr, false)
	if err != nil {
		return err
	}
	pid := running(f.dir)
	if pid == 0 {
		fmt.Fprintf(stdout, "devstack: not running (%s)\n", f.dir)
		return nil
	}
	s, err := readState(f.dir, 0)
	if err != nil {
		fmt.Fprintf(stdout, "devstack: starting (pid %d, %s)\n", pid, f.dir)
		return nil
	}
	fmt.Fprintf(stdout, "devstack: running (pid %d, %s)\n", pid, f.dir)
	printStack(stdout, s)
	return nil
}

func cmdDown(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags("down", args, stderr, false)
	if err != nil {
		return err
	}
	pid := running(f.dir)
	if pid == 0 {
		fmt.Fprintf(stdout, "devstack: not running (%s)\n", f.dir)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("cannot signal devstack (pid %d): %w", pid, err)
	}
	// ClickHouse may take up to 30 s; allow a little more.
	for deadline := time.Now().Add(45 * time.Second); running(f.dir) != 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("devstack (pid %d) still runs 45 s after SIGTERM", pid)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "devstack: stopped (pid %d)\n", pid)
	return nil
}
