package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// demoTopics are the topics (after the prefix) the binaries use.
var demoTopics = []string{"clicks", "identities", "orders", "dlq", "commissions", "store_credits"}

// createTopics creates the topics before any binary starts and waits until
// every partition has a leader. A consumer that joins before its topic
// exists, or while a fresh Apache broker is still electing leaders, sees
// "not leader" errors; created up front, every binary starts on settled
// topics.
func createTopics(ctx context.Context, broker, prefix string, partitions int) error {
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	var names []string
	for _, t := range demoTopics {
		names = append(names, prefix+t)
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: prefix + t, NumPartitions: partitions, ReplicationFactor: 1})
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
	deadline := time.Now().Add(time.Minute)
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil && led(meta, len(names)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v have no leaders a minute after their creation (last error: %v)", names, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// led reports whether want topics are listed and every partition has a leader.
func led(meta *kafka.MetadataResponse, want int) bool {
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
