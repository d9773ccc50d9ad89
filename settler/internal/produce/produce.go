// Package produce writes to Kafka with a bounded retry for the errors a
// healthy cluster returns while a topic is being created or its leader
// moves.
package produce

import (
	"context"
	"errors"
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
