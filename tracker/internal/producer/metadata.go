package producer

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// partitionCache is the Kafka transport of the producer's writers. kafka-go's
// Writer asks for the topic's metadata once per message (to count its
// partitions); kafka.Transport answers from its cache, but copies the cached
// response for every question: 166 bytes allocated per click and a lock
// (38 MB in 4 s under load, a third of what the tracker allocated once
// kafka-go's batches were sized by Options.PartitionBatch). partitionCache
// answers the Writer's question (one topic, the same flags) from the last
// answer for up to ttl, unchanged and shared: the Writer only reads it.
// Every other request, and every answer with an error, goes to next as
// before.
type partitionCache struct {
	next kafka.RoundTripper
	ttl  time.Duration
	last atomic.Pointer[cachedMetadata]
}

type cachedMetadata struct {
	topic     string
	autoTopic bool
	until     time.Time
	resp      *metadataAPI.Response
}

func (c *partitionCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadataAPI.Request)
	if !ok || len(m.TopicNames) != 1 {
		return c.next.RoundTrip(ctx, addr, req)
	}
	now := time.Now()
	if e := c.last.Load(); e != nil && e.topic == m.TopicNames[0] && e.autoTopic == m.AllowAutoTopicCreation && now.Before(e.until) {
		return e.resp, nil
	}
	resp, err := c.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return resp, err
	}
	r, ok := resp.(*metadataAPI.Response)
	if !ok || len(r.Topics) != 1 || r.Topics[0].Name != m.TopicNames[0] || r.Topics[0].ErrorCode != 0 {
		return resp, nil
	}
	c.last.Store(&cachedMetadata{topic: m.TopicNames[0], autoTopic: m.AllowAutoTopicCreation, until: now.Add(c.ttl), resp: r})
	return resp, nil
}
