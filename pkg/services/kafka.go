package services

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaInstall is the command that installs Java, Maven and the Apache Kafka jars.
const KafkaInstall = "bash deploy/install-deps.sh"

// KafkaLibEnv names the variable that points at the directory of Apache
// Kafka jars; by default it is deploy/kafka/lib of the enclosing checkout.
const KafkaLibEnv = "AFF_KAFKA_LIB"

// KafkaConfig configures StartKafka.
type KafkaConfig struct {
	// Dir holds server.properties, the log (Dir/data) and the broker's
	// output (Dir/kafka.log). An already formatted Dir/data is reused.
	Dir string
	// Port is the client (PLAINTEXT) port on 127.0.0.1; 0 picks a free one.
	Port int
	// ControllerPort is the KRaft controller port; 0 picks a free one.
	ControllerPort int
	// Partitions is num.partitions for auto-created topics; 0 means 4.
	Partitions int
	// LibDir holds the broker's jars; "" means FindKafkaLib.
	LibDir string
	// HeapMB caps the JVM heap; 0 means 512.
	HeapMB int
}

// Kafka is a running Apache Kafka broker: a single KRaft node acting as
// broker and controller.
type Kafka struct {
	cfg  KafkaConfig
	java string
	proc *Proc
}

// FindKafkaLib returns the directory of Apache Kafka jars: $AFF_KAFKA_LIB,
// or deploy/kafka/lib in the checkout that contains the working directory
// or the running executable (bin/devstack).
func FindKafkaLib() (string, error) {
	dir := os.Getenv(KafkaLibEnv)
	if dir == "" {
		var starts []string
		if wd, err := os.Getwd(); err == nil {
			starts = append(starts, wd)
		}
		if exe, err := os.Executable(); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
		for _, s := range starts {
			if root, ok := findUp(s, filepath.Join("deploy", "kafka", "pom.xml")); ok {
				dir = filepath.Join(root, "deploy", "kafka", "lib")
				break
			}
		}
		if dir == "" {
			return "", &MissingError{What: "the Apache Kafka jars (no deploy/kafka/pom.xml above " + strings.Join(starts, " or ") + "; or set " + KafkaLibEnv + ")", Install: KafkaInstall}
		}
	}
	jars, _ := filepath.Glob(filepath.Join(dir, "kafka_2.13-*.jar"))
	if len(jars) == 0 {
		return "", &MissingError{What: "the Apache Kafka jars (" + dir + "/kafka_2.13-*.jar)", Install: KafkaInstall}
	}
	return dir, nil
}

// FindJava returns the java executable.
func FindJava() (string, error) {
	if p, ok := lookPath("java"); ok {
		return p, nil
	}
	return "", &MissingError{What: "java (17 or newer)", Install: KafkaInstall + " (or: sudo apt-get install openjdk-17-jre-headless)"}
}

// StartKafka writes server.properties into cfg.Dir, formats the log
// directory with kafka.tools.StorageTool when it is new, starts kafka.Kafka
// and waits until the broker answers metadata requests.
func StartKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	java, err := FindJava()
	if err != nil {
		return nil, err
	}
	if cfg.LibDir == "" {
		if cfg.LibDir, err = FindKafkaLib(); err != nil {
			return nil, err
		}
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 4
	}
	if cfg.HeapMB == 0 {
		cfg.HeapMB = 512
	}
	for _, p := range []*int{&cfg.Port, &cfg.ControllerPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create kafka dir: %w", err)
	}
	k := &Kafka{cfg: cfg, java: java}
	if err := k.writeConfig(); err != nil {
		return nil, err
	}
	if err := k.format(ctx); err != nil {
		return nil, err
	}
	if err := k.Start(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Kafka) writeConfig() error {
	c := k.cfg
	props := strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=1",
		fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", c.ControllerPort),
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", c.Port, c.ControllerPort),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", c.Port),
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(c.Dir, "data"),
		"num.partitions=" + strconv.Itoa(c.Partitions),
		"auto.create.topics.enable=true",
		"default.replication.factor=1",
		"min.insync.replicas=1",
		// Internal topics on one node: replication factor 1, few partitions
		// so the first consumer group or transaction does not wait for 50.
		"offsets.topic.replication.factor=1",
		"offsets.topic.num.partitions=4",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"transaction.state.log.num.partitions=4",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
		// Small segments keep a test's disk use small.
		"log.segment.bytes=16777216",
		"log.retention.check.interval.ms=60000",
		"num.network.threads=2",
		"num.io.threads=4",
		"",
	}, "\n")
	if err := os.WriteFile(k.propsPath(), []byte(props), 0o644); err != nil {
		return fmt.Errorf("cannot write kafka config: %w", err)
	}
	log4j := strings.Join([]string{
		"status = error",
		"appender.out.type = Console",
		"appender.out.name = OUT",
		"appender.out.layout.type = PatternLayout",
		"appender.out.layout.pattern = [%d] %p %m (%c)%n",
		"rootLogger.level = info",
		"rootLogger.appenderRef.out.ref = OUT",
		// The broker prints every config at start: keep them out.
		"logger.config.name = org.apache.kafka.common.config.AbstractConfig",
		"logger.config.level = warn",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(k.cfg.Dir, "log4j2.properties"), []byte(log4j), 0o644); err != nil {
		return fmt.Errorf("cannot write kafka log config: %w", err)
	}
	return nil
}

func (k *Kafka) propsPath() string { return filepath.Join(k.cfg.Dir, "server.properties") }

// LogPath returns the broker's output file.
func (k *Kafka) LogPath() string { return filepath.Join(k.cfg.Dir, "kafka.log") }

func (k *Kafka) javaArgs(heapMB int, mainClass string, args ...string) []string {
	a := []string{
		fmt.Sprintf("-Xmx%dm", heapMB), "-Xss1m",
		// A test broker's JVM starts faster with the client compiler only and
		// the serial collector; throughput is ample for tests.
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
		"-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(k.cfg.Dir, "log4j2.properties"),
		"-cp", filepath.Join(k.cfg.LibDir, "*"), mainClass,
	}
	return append(a, args...)
}

func (k *Kafka) format(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(k.cfg.Dir, "data", "meta.properties")); err == nil {
		return nil
	}
	id, err := clusterID()
	if err != nil {
		return err
	}
	p, err := StartProc(ProcSpec{
		Name: "kafka-storage-format", Path: k.java,
		Args: k.javaArgs(256, "kafka.tools.StorageTool", "format", "-t", id, "-c", k.propsPath()),
		Dir:  k.cfg.Dir, LogPath: filepath.Join(k.cfg.Dir, "format.log"),
	})
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("kafka storage format: %w", ctx.Err())
	}
	if _, err := p.Exited(); err != nil {
		return fmt.Errorf("kafka storage format failed (%v); last lines of %s:\n%s", err, p.spec.LogPath, p.LogTail(30))
	}
	return nil
}

// clusterID returns a random KRaft cluster id: 16 bytes, base64url, 22
// chars, never starting with '-' (StorageTool would read "-t -x..." as a
// missing argument; that is 1 id in 64).
func clusterID() (string, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id, nil
		}
	}
}

// Start starts the broker on its formatted log and waits until it answers.
// It is called by StartKafka and again after Stop; the log survives.
func (k *Kafka) Start(ctx context.Context) error {
	p, err := StartProc(ProcSpec{
		Name: "kafka", Path: k.java, Args: k.javaArgs(k.cfg.HeapMB, "kafka.Kafka", k.propsPath()),
		Dir: k.cfg.Dir, LogPath: k.LogPath(), DeathSignal: syscall.SIGKILL,
	})
	if err != nil {
		return err
	}
	k.proc = p
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := waitReady(ctx, p, func(ctx context.Context) error { return KafkaReady(ctx, k.Addr()) }); err != nil {
		p.Kill()
		return err
	}
	return nil
}

// KafkaReady returns nil when the broker at addr answers a metadata request
// that lists at least one broker.
func KafkaReady(ctx context.Context, addr string) error {
	conn, err := (&kafka.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	brokers, err := conn.Brokers()
	if err != nil {
		return err
	}
	if len(brokers) == 0 {
		return errors.New("metadata lists no broker yet")
	}
	return nil
}

// Addr returns host:port of the client listener.
func (k *Kafka) Addr() string { return fmt.Sprintf("127.0.0.1:%d", k.cfg.Port) }

// Proc returns the broker process.
func (k *Kafka) Proc() *Proc { return k.proc }

// Stop shuts the broker down cleanly (SIGTERM: controlled shutdown, log
// flushed) and kills it after grace.
func (k *Kafka) Stop(grace time.Duration) {
	if k.proc != nil {
		k.proc.Stop(syscall.SIGTERM, grace)
	}
}

// Kill kills the broker at once.
func (k *Kafka) Kill() {
	if k.proc != nil {
		k.proc.Kill()
	}
}

// Kfake is the embedded Kafka-protocol broker of franz-go, in this process.
type Kfake struct {
	cluster *kfake.Cluster
	port    int
	opts    []kfake.Opt
}

// StartKfake starts an in-process kfake broker on 127.0.0.1:port (0: a free
// port) that auto-creates topics with the given number of partitions (0: 4).
// With dataDir set the log is kept on disk there (kfake's DataDir) and
// survives Stop/Start; otherwise it lives in memory and dies with Stop.
func StartKfake(port, partitions int, dataDir string) (*Kfake, error) {
	if partitions == 0 {
		partitions = 4
	}
	if port == 0 {
		var err error
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1), kfake.Ports(port),
		kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(partitions),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	kf := &Kfake{port: port, opts: opts}
	if err := kf.Start(); err != nil {
		return nil, err
	}
	return kf, nil
}

// Start starts the broker again after Stop, on the same port.
func (kf *Kfake) Start() error {
	var err error
	for range 50 { // the port can stay busy for a moment after Stop
		kf.cluster, err = kfake.NewCluster(kf.opts...)
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("cannot start kfake on port %d: %w", kf.port, err)
}

// Addr returns host:port of the broker.
func (kf *Kfake) Addr() string { return fmt.Sprintf("127.0.0.1:%d", kf.port) }

// Stop closes the broker and its listener.
func (kf *Kfake) Stop() {
	if kf.cluster != nil {
		kf.cluster.Close()
		kf.cluster = nil
	}
}

// findUp returns the first of dir and its parents that holds rel.
func findUp(dir, rel string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, rel)); err == nil {
			return d, true
		}
		if d == filepath.Dir(d) {
			return "", false
		}
	}
}
