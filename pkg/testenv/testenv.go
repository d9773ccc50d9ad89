// Package testenv gives a test package real servers: a throw-away Postgres
// cluster, a ClickHouse server and a Kafka broker, started lazily on random
// ports under one temporary directory, shared by the package's tests and torn
// down when the package's tests end.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// and in a test:
//
//	env := testenv.Get(t)
//	db := env.PostgresURL(t)   // a fresh database with every migration applied
//
// Kafka is the real Apache Kafka broker by default (jars installed by
// deploy/install-deps.sh). AFF_TEST_KAFKA=kfake switches to the embedded
// kfake broker; AFF_TEST_KAFKA_BROKERS=host:port uses a broker that is
// already running (deploy/test.sh starts one for the whole run).
//
// A missing server binary or jar fails the test with the command that
// installs it; nothing is ever skipped. Servers run in their own process
// groups with a parent-death signal, so a test binary that panics or is
// killed leaves no server behind; its temporary directory is removed by the
// next test binary that uses testenv.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/services"
)

// Environment variables that choose the Kafka broker.
const (
	// KafkaEnv selects the broker kind: "apache" (default) or "kfake".
	KafkaEnv = "AFF_TEST_KAFKA"
	// KafkaBrokersEnv names a running broker (comma list of host:port) to
	// use instead of starting one.
	KafkaBrokersEnv = "AFF_TEST_KAFKA_BROKERS"
	// KafkaPartitionsEnv sets num.partitions of brokers testenv starts (default 4).
	KafkaPartitionsEnv = "AFF_TEST_KAFKA_PARTITIONS"
)

// Kafka broker kinds for StartKafka.
const (
	Apache = "apache"
	Kfake  = "kfake"
)

// startTimeout bounds the start of one server, migrations included.
const startTimeout = 2 * time.Minute

// pkgState is what one test binary shares: the servers it started.
type pkgState struct {
	mu    sync.Mutex
	base  string // temporary directory of this test binary
	runID string // random, so topic and database names never meet another run's
	seq   atomic.Int64
	stops []func() // in start order; run in reverse by shutdown
	pg    *lazy[*pgServer]
	ch    *lazy[*chServer]
	kafka *lazy[[]string]
	// kafkaProc is the Apache broker this binary started, if any.
	kafkaProc *services.Proc
	shutOff   bool
	began     time.Time // when Main began
}

var state = newState()

func newState() *pkgState {
	s := &pkgState{runID: randomHex(3)}
	s.pg = &lazy[*pgServer]{start: s.startPostgres}
	s.ch = &lazy[*chServer]{start: s.startClickHouse}
	s.kafka = &lazy[[]string]{start: s.startKafka}
	return s
}

// lazy starts a server once, on first use, and remembers the outcome.
type lazy[T any] struct {
	once    sync.Once
	started atomic.Bool
	start   func() (T, error)
	val     T
	err     error
}

func (l *lazy[T]) get() (T, error) {
	l.started.Store(true)
	l.once.Do(func() { l.val, l.err = l.start() })
	return l.val, l.err
}

// settle waits for a start in progress, so shutdown sees what it started.
func (l *lazy[T]) settle() {
	if l.started.Load() {
		l.once.Do(func() {})
	}
}

// Service names a shared server, for Prestart.
type Service string

// The shared servers.
const (
	PostgresService   Service = "postgres"
	ClickHouseService Service = "clickhouse"
	KafkaService      Service = "kafka"
)

// Option changes what Main does.
type Option func(*pkgState)

// Prestart starts the named servers in the background, in parallel, as soon
// as Main begins, instead of one after another on first use. For packages
// whose tests use several servers: os.Exit(testenv.Main(m,
// testenv.Prestart(testenv.PostgresService, testenv.KafkaService))). A
// failed start is reported to the first test that uses the server.
func Prestart(services ...Service) Option {
	return func(s *pkgState) {
		for _, svc := range services {
			switch svc {
			case PostgresService:
				go s.pg.get()
			case ClickHouseService:
				go s.ch.get()
			case KafkaService:
				go s.kafka.get()
			default:
				panic("BUG: testenv.Prestart: unknown service " + string(svc))
			}
		}
	}
}

// Main runs the package's tests and then stops every server they started.
// Call it from TestMain: os.Exit(testenv.Main(m)). Servers start on first
// use unless opts say otherwise (Prestart).
func Main(m *testing.M, opts ...Option) int {
	state.began = time.Now()
	sweepStale()
	if !flag.Parsed() {
		flag.Parse()
	}
	if !onlyListingOrFuzzing() {
		for _, o := range opts {
			o(state)
		}
	}
	code := m.Run()
	state.shutdown()
	return code
}

// Env is a test's handle on the package's shared servers. Methods without a
// testing.TB argument fail the test that called Get.
type Env struct {
	t testing.TB
	s *pkgState
}

// Get returns the package's environment for t. It starts nothing: each
// server starts on first use.
func Get(t testing.TB) *Env {
	t.Helper()
	return &Env{t: t, s: state}
}

func (s *pkgState) baseDir() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutOff {
		return "", errors.New("testenv: used after Main returned (call testenv.Main from TestMain)")
	}
	if s.base != "" {
		return s.base, nil
	}
	// Under os.TempDir, which the unprivileged Postgres user can reach.
	dir, err := os.MkdirTemp("", stalePrefix)
	if err != nil {
		return "", fmt.Errorf("testenv: cannot create temporary directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	s.base = dir
	return dir, nil
}

// onShutdown registers f to run when Main returns, in reverse order.
func (s *pkgState) onShutdown(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stops = append(s.stops, f)
}

// onlyListingOrFuzzing reports whether this binary only lists tests or
// fuzzes with -run '^$' (deploy/fuzz.sh): no server should be prestarted.
func onlyListingOrFuzzing() bool {
	val := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return val("test.list") != "" || val("test.run") == "^$"
}

func (s *pkgState) shutdown() {
	s.pg.settle()
	s.ch.settle()
	s.kafka.settle()
	s.mu.Lock()
	stops := s.stops
	s.stops = nil
	s.shutOff = true
	base := s.base
	s.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(stops) - 1; i >= 0; i-- {
		wg.Add(1)
		go func() { defer wg.Done(); stops[i]() }()
	}
	wg.Wait()
	if base != "" {
		os.RemoveAll(base)
	}
}

const stalePrefix = "aff-testenv-"

// sweepStale removes the temporary directories of test binaries that died
// without cleaning up (their servers died with them: parent-death signal).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), stalePrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// name returns a name unique in this run and across concurrent runs, such
// as "t_3fa9c1_12".
func (s *pkgState) name(sep string) string {
	return "t" + sep + s.runID + sep + strconv.FormatInt(s.seq.Add(1), 10)
}

// fail fails t with err; a *services.MissingError already names the install command.
func fail(t testing.TB, what string, err error) {
	t.Helper()
	t.Fatalf("testenv: %s: %v", what, err)
}

// logOnFailure prints the tail of a server's log when t fails.
func logOnFailure(t testing.TB, name string, tail func() string) {
	t.Cleanup(func() {
		if t.Failed() {
			lines := tail()
			if strings.TrimSpace(lines) == "" {
				lines = "(empty)"
			}
			t.Logf("testenv: last lines of the %s log:\n%s", name, lines)
		}
	})
}

func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), startTimeout)
}

// SinceMain returns the time since Main began, for tests that report how
// long the servers took to start.
func SinceMain() time.Duration { return time.Since(state.began) }
