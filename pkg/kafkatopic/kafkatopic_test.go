package kafkatopic_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestEnsureCreatesMissingAndKeepsExisting: missing topics are created with
// a leader for every partition; an existing topic keeps its partitions; a
// second call is a no-op.
func TestEnsureCreatesMissingAndKeepsExisting(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	existing := prefix + "existing"
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: existing, NumPartitions: 3, ReplicationFactor: 1}}})
	if err != nil || res.Errors[existing] != nil {
		t.Fatalf("create %s: %v %v", existing, err, res)
	}
	topics := []string{existing, prefix + "a", prefix + "b"}
	for range 2 {
		if err := kafkatopic.Ensure(ctx, brokers, topics); err != nil {
			t.Fatal(err)
		}
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]int{}
	for _, tp := range meta.Topics {
		if tp.Error != nil {
			t.Errorf("%s: %v", tp.Name, tp.Error)
		}
		parts[tp.Name] = len(tp.Partitions)
	}
	if parts[existing] != 3 || parts[prefix+"a"] < 1 || parts[prefix+"b"] < 1 {
		t.Errorf("partitions %v: want 3 for the existing topic and at least 1 for the new ones", parts)
	}
}

func TestEnsureFailsWithoutBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkatopic.Ensure(ctx, []string{"127.0.0.1:1"}, []string{"x"}); err == nil {
		t.Fatal("Ensure against no broker succeeded")
	}
}

// TestCreateWithSpec: new topics get the spec's partition count.
func TestCreateWithSpec(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := prefix + "spec"
	if err := kafkatopic.Create(ctx, brokers, []string{topic}, kafkatopic.Spec{Partitions: 2, ReplicationFactor: 1, Wait: time.Minute}); err != nil {
		t.Fatal(err)
	}
	meta, err := (&kafka.Client{Addr: kafka.TCP(brokers...)}).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 2 {
		t.Fatalf("metadata of %s: %v %+v; want 2 partitions", topic, err, meta)
	}
}

func TestIsTxnMarker(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       bool
	}{
		{"\x00\x00\x00\x00", "\x00\x00\x00\x00\x00\x07", true}, // abort
		{"\x00\x00\x00\x01", "\x00\x00\x00\x00\x00\x00", true}, // commit
		{"\x00\x00\x00\x02", "\x00\x00\x00\x00\x00\x00", false},
		{"\x00\x01\x00\x01", "\x00\x00\x00\x00\x00\x00", false},
		{"\x00\x00\x00\x01", "\x00\x00\x00\x00\x00", false},
		{"o-1", `{"v":1}`, false},
		{"", "", false},
		{"\x00\x00\x00\x01", `{"a":}`, false},
	} {
		if got := kafkatopic.IsTxnMarker([]byte(c.key), []byte(c.value)); got != c.want {
			t.Errorf("IsTxnMarker(%q, %q) = %v, want %v", c.key, c.value, got, c.want)
		}
	}
}
