package producer

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// countingTransport answers metadata requests for topic "t" with two
// partitions (an error code while failing is set) and counts the requests.
type countingTransport struct {
	calls   int
	failing bool
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	m, ok := req.(*metadataAPI.Request)
	if !ok {
		return nil, nil
	}
	r := &metadataAPI.Response{}
	for _, name := range m.TopicNames {
		t := metadataAPI.ResponseTopic{Name: name, Partitions: make([]metadataAPI.ResponsePartition, 2)}
		if c.failing {
			t.ErrorCode = 5 // LEADER_NOT_AVAILABLE, as while a topic is auto-created
		}
		r.Topics = append(r.Topics, t)
	}
	return r, nil
}

func TestPartitionCache(t *testing.T) {
	next := &countingTransport{failing: true}
	c := &partitionCache{next: next, ttl: 50 * time.Millisecond}
	ask := func(topics ...string) *metadataAPI.Response {
		t.Helper()
		r, err := c.RoundTrip(context.Background(), nil, &metadataAPI.Request{TopicNames: topics, AllowAutoTopicCreation: true})
		if err != nil {
			t.Fatal(err)
		}
		return r.(*metadataAPI.Response)
	}
	// An answer with an error is passed on and not kept.
	if r := ask("t"); r.Topics[0].ErrorCode != 5 {
		t.Fatalf("error answer %+v not passed on", r.Topics[0])
	}
	next.failing = false
	ask("t")
	if next.calls != 2 {
		t.Fatalf("%d requests reached the transport, want 2 (the error answer was kept)", next.calls)
	}
	// Within the ttl the same question is answered from the cache.
	for range 100 {
		if r := ask("t"); len(r.Topics[0].Partitions) != 2 {
			t.Fatalf("cached answer %+v", r)
		}
	}
	if next.calls != 2 {
		t.Fatalf("%d requests reached the transport, want 2", next.calls)
	}
	// Other questions go through.
	ask("u")
	ask("t", "u")
	if _, err := c.RoundTrip(context.Background(), nil, &metadataAPI.Request{TopicNames: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if next.calls != 5 {
		t.Fatalf("%d requests reached the transport, want 5 (another topic, two topics, other flags)", next.calls)
	}
	// After the ttl the answer is asked again.
	ask("t")
	ask("t")
	if next.calls != 6 {
		t.Fatalf("%d requests reached the transport, want 6 (one for t again, then cached)", next.calls)
	}
	time.Sleep(60 * time.Millisecond)
	ask("t")
	if next.calls != 7 {
		t.Fatalf("%d requests reached the transport after the ttl, want 7", next.calls)
	}
}
