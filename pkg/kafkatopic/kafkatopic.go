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
	return Create(ctx, brokers, topics, Spec{})
}

// Spec says how Create makes the missing topics.
type Spec struct {
	// Partitions and ReplicationFactor of new topics; 0 takes the broker's
	// defaults.
	Partitions, ReplicationFactor int
	// Wait bounds the wait for leaders (on top of ctx); 0 means 20 s.
	Wait time.Duration
}

// Create is Ensure with the partitions, replication factor and wait of spec.
func Create(ctx context.Context, brokers []string, topics []string, spec Spec) error {
	if len(topics) == 0 {
		return nil
	}
	orDefault := func(n int) int {
		if n <= 0 {
			return -1 // the broker's default
		}
		return n
	}
	wait := spec.Wait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: orDefault(spec.Partitions), ReplicationFactor: orDefault(spec.ReplicationFactor)})
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
	deadline := time.Now().Add(wait)
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil && allLed(meta, len(topics)) {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("a partition has no leader")
			}
			return fmt.Errorf("topics %v are not ready after %s: %w", topics, wait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v are not ready: %w", topics, ctx.Err())
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

// IsTxnMarker reports whether a message read with kafka-go is a transaction
// marker (a commit or abort control record a transactional producer left in
// the partition): kafka-go hands those out as messages, with the control
// record's key (version 0, type 0 abort or 1 commit) and value (version 0,
// coordinator epoch). No event has that shape: its value is JSON. kafka-go
// does not hide the records of aborted transactions either (it reads
// uncommitted; segmentio/kafka-go#1332), so a consumer that meets markers
// should say that a producer writes in transactions.
func IsTxnMarker(key, value []byte) bool {
	return len(key) == 4 && key[0] == 0 && key[1] == 0 && key[2] == 0 && key[3] <= 1 &&
		len(value) == 6 && value[0] == 0 && value[1] == 0
}
