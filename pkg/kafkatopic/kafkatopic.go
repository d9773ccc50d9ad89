// Package kafkatopic makes sure topics exist before a consumer group joins
// them: a kafka-go group over a missing topic gets no partitions of it until
// the next rebalance, so a consumer started before its topics were created
// could sit idle for a long time.
package kafkatopic

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Ensure creates the topics that do not exist yet, with the cluster's
// default partition count and replication factor, and waits (bounded by ctx,
// and by about 20 s of polling) until every partition of each has a leader.
// Topics that exist are left as they are.
func Ensure(ctx context.Context, brokers []string, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: -1, ReplicationFactor: -1})
	}
	res, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("cannot create topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("cannot create topic %s: %w", t, err)
		}
	}
	const polls = 80 // 250 ms apart
	for attempt := 0; ; attempt++ {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil && allLed(meta, len(topics)) {
			return nil
		}
		if attempt >= polls {
			if err == nil {
				err = errors.New("a partition has no leader")
			}
			return fmt.Errorf("topics %v are not ready: %w", topics, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func allLed(meta *kafka.MetadataResponse, want int) bool {
	if len(meta.Topics) != want {
		return false
	}
	for _, t := range meta.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return false
			}
		}
	}
	return true
}
