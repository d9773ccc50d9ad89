package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/services"
)

func kafkaKind() (string, error) {
	switch k := os.Getenv(KafkaEnv); k {
	case "", Apache:
		return Apache, nil
	case Kfake:
		return Kfake, nil
	default:
		return "", fmt.Errorf("%s=%q: want %q or %q", KafkaEnv, k, Apache, Kfake)
	}
}

func partitions() (int, error) {
	v := os.Getenv(KafkaPartitionsEnv)
	if v == "" {
		return 4, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("%s=%q: want a number of partitions from 1 to 1000", KafkaPartitionsEnv, v)
	}
	return n, nil
}

func (s *pkgState) startKafka() ([]string, error) {
	if v := strings.TrimSpace(os.Getenv(KafkaBrokersEnv)); v != "" {
		brokers := strings.Split(v, ",")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := services.KafkaReady(ctx, brokers[0]); err != nil {
			return nil, fmt.Errorf("%s=%s does not answer: %w", KafkaBrokersEnv, v, err)
		}
		return brokers, nil
	}
	kind, err := kafkaKind()
	if err != nil {
		return nil, err
	}
	n, err := partitions()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if kind == Kfake {
		kf, err := services.StartKfake(0, n, "")
		if err != nil {
			return nil, err
		}
		s.onShutdown(kf.Stop)
		debugf("kfake ready on %s in %v", kf.Addr(), time.Since(began).Round(time.Millisecond))
		return []string{kf.Addr()}, nil
	}
	base, err := s.baseDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	k, err := services.StartKafka(ctx, services.KafkaConfig{Dir: filepath.Join(base, "kafka"), Partitions: n})
	if err != nil {
		return nil, err
	}
	s.onShutdown(k.Kill)
	s.mu.Lock()
	s.kafkaProc = k.Proc()
	s.mu.Unlock()
	debugf("apache kafka ready on %s in %v", k.Addr(), time.Since(began).Round(time.Millisecond))
	return []string{k.Addr()}, nil
}

// KafkaBrokers returns the addresses of the package's Kafka broker: the
// running broker of AFF_TEST_KAFKA_BROKERS, else one started for the package
// (Apache Kafka, or kfake when AFF_TEST_KAFKA=kfake). Topics are created
// on first use; name them with TopicPrefix.
func (e *Env) KafkaBrokers() []string {
	e.t.Helper()
	b, err := e.s.kafka.get()
	if err != nil {
		fail(e.t, "cannot start Kafka", err)
	}
	return b
}

// ReadMessages returns the first n messages of topic, from every partition
// and the first offset on, read by a consumer group of its own; it fails t
// when they have not all arrived within 20 s.
func ReadMessages(t testing.TB, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "test-" + uuid.NewString(),
		Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: got %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// TopicPrefix returns a topic-name prefix unique to t, across packages and
// concurrent runs that share a broker, such as "t3fa9c1.12.".
func (e *Env) TopicPrefix(t testing.TB) string {
	t.Helper()
	return e.s.name(".") + "."
}

// Kafka is a dedicated broker for one test, for fault tests that stop and
// start it.
type Kafka struct {
	t      testing.TB
	kind   string
	apache *services.Kafka
	kfake  *services.Kfake
}

// StartKafka starts a broker of the given kind (Apache or Kfake) for t
// alone; it is stopped when t ends. The Apache broker keeps its log across
// Stop and Start; kfake keeps it in a temporary directory (its DataDir).
func StartKafka(t testing.TB, kind string) *Kafka {
	t.Helper()
	n, err := partitions()
	if err != nil {
		fail(t, "cannot start Kafka", err)
	}
	k := &Kafka{t: t, kind: kind}
	switch kind {
	case Apache:
		ctx, cancel := ctxTimeout()
		defer cancel()
		k.apache, err = services.StartKafka(ctx, services.KafkaConfig{Dir: t.TempDir(), Partitions: n})
		if err != nil {
			fail(t, "cannot start Apache Kafka", err)
		}
		t.Cleanup(k.apache.Kill)
		logOnFailure(t, "dedicated kafka", func() string { return k.apache.Proc().LogTail(30) })
	case Kfake:
		k.kfake, err = services.StartKfake(0, n, t.TempDir())
		if err != nil {
			fail(t, "cannot start kfake", err)
		}
		t.Cleanup(k.kfake.Stop)
	default:
		t.Fatalf("testenv.StartKafka: kind %q: want %q or %q", kind, Apache, Kfake)
	}
	return k
}

// Brokers returns the broker's address; it stays the same across Stop and Start.
func (k *Kafka) Brokers() []string {
	if k.apache != nil {
		return []string{k.apache.Addr()}
	}
	return []string{k.kfake.Addr()}
}

// Stop stops the broker: a clean shutdown of the Apache broker (killed
// after 30 s), a close of kfake. Clients then see connections refused.
func (k *Kafka) Stop() {
	if k.apache != nil {
		k.apache.Stop(30 * time.Second)
		return
	}
	k.kfake.Stop()
}

// Pause freezes the Apache broker (SIGSTOP): its connections stay open and
// nothing answers, as with a broker that hangs. Resume undoes it; the
// test's cleanup also resumes it before the broker is killed. Only the
// Apache broker can be paused.
func (k *Kafka) Pause() {
	k.t.Helper()
	if k.apache == nil {
		k.t.Fatal("testenv: Pause needs the Apache broker (StartKafka(t, testenv.Apache))")
	}
	if err := k.apache.Proc().Signal(syscall.SIGSTOP); err != nil {
		k.t.Fatalf("cannot pause Kafka: %v", err)
	}
	k.t.Cleanup(k.Resume)
}

// Resume lets a paused broker run again.
func (k *Kafka) Resume() {
	if k.apache != nil {
		_ = k.apache.Proc().Signal(syscall.SIGCONT)
	}
}

// Start starts the broker again on the same port and log and waits until
// it answers. Call it from the test's goroutine.
func (k *Kafka) Start() {
	k.t.Helper()
	var err error
	if k.apache != nil {
		ctx, cancel := ctxTimeout()
		defer cancel()
		err = k.apache.Start(ctx)
	} else {
		err = k.kfake.Start()
	}
	if err != nil {
		fail(k.t, "cannot restart Kafka", err)
	}
}
