// Package produce writes to Kafka with a bounded retry for the errors a
// healthy cluster returns while a topic is being created or its leader
// moves.
package produce

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// MaxAttempts bounds the tries of Write.
const MaxAttempts = 20

// Write writes msgs with w, retrying up to MaxAttempts times, 250 ms apart,
// while the error is temporary for Kafka (unknown topic or partition right
// after auto-creation, leader not available, ...).
func Write(ctx context.Context, w *kafka.Writer, msgs ...kafka.Message) error {
	var err error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		if err = w.WriteMessages(ctx, msgs...); err == nil || !temporary(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return err
}

func temporary(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary() || ke == kafka.UnknownTopicOrPartition
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !temporary(e) {
				return false
			}
		}
		return true
	}
	return false
}

// EnsureTopics creates the topics that do not exist yet, with the
// cluster's default partition count and replication factor, and waits
// (bounded by ctx) until every partition of each has a leader. A consumer
// group over a missing topic can stall in kafka-go until the next
// rebalance, so the settler makes its topics exist before it joins.
func EnsureTopics(ctx context.Context, brokers []string, topics []string) error {
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
	for attempt := 0; ; attempt++ {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil && allLed(meta, len(topics)) {
			return nil
		}
		if attempt >= 4*MaxAttempts {
			return fmt.Errorf("topics %v have no leaders yet: %v", topics, err)
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
