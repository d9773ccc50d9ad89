package main

import (
	"context"
	"time"

	"github.com/openaff/affiliate/pkg/kafkatopic"
)

// demoTopics are the topics (after the prefix) the binaries use.
var demoTopics = []string{"clicks", "identities", "orders", "dlq", "commissions", "store_credits"}

// createTopics creates the topics before any binary starts and waits until
// every partition has a leader. A consumer that joins before its topic
// exists, or while a fresh Apache broker is still electing leaders, sees
// "not leader" errors; created up front, every binary starts on settled
// topics.
func createTopics(ctx context.Context, broker, prefix string, partitions int) error {
	names := make([]string, len(demoTopics))
	for i, t := range demoTopics {
		names[i] = prefix + t
	}
	return kafkatopic.Create(ctx, []string{broker}, names,
		kafkatopic.Spec{Partitions: partitions, ReplicationFactor: 1, Wait: time.Minute})
}
