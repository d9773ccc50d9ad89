package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestGroupMembersShareAndHandOver: two sinks of one consumer group split
// the partitions (a second member joins: a rebalance while the first one
// has batches in flight), one leaves and the other takes over its
// partitions; every click is in the reports once, and the offsets both
// committed leave nothing for a third member to read.
func TestGroupMembersShareAndHandOver(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 4)
	cfg := sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db,
		PostgresURL: env.PostgresURL(t), BatchRows: 500, BatchWait: 100 * time.Millisecond,
	}
	member := func() (*metrics.Counter, func() error) {
		c := cfg
		c.Metrics = metrics.NewSet()
		return c.Metrics.GetOrCreateCounter(`aff_sink_read_messages_total`), startSink(t, c)
	}
	var want int64
	clicksIn := func(what string) {
		t.Helper()
		waitFor(t, 90*time.Second, what, func() (bool, string) {
			n := queryInt(t, conn, "SELECT toInt64(uniqExactIfMerge(clicks) + uniqExactIfMerge(bot_clicks)) FROM daily_clicks")
			return n == want, fmt.Sprintf("%d clicks in the reports, want %d", n, want)
		})
	}
	produceClicks := func(n int) {
		f := newFixture(n, 0, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
		produce(t, brokers, prefix+"clicks", f.clicks)
		want += int64(n)
	}

	readA, stopA := member()
	produceClicks(3000)
	clicksIn("the first member's clicks")

	readB, stopB := member()
	waitMembers(t, brokers, cfg.TopicPrefix+"sink", 2)
	beforeA, beforeB := readA.Get(), readB.Get()
	produceClicks(6000)
	clicksIn("the clicks produced after the second member joined")
	if readA.Get() == beforeA || readB.Get() == beforeB {
		t.Fatalf("after the join, member A read %d and B %d messages: want both > 0 (the partitions shared)", readA.Get()-beforeA, readB.Get()-beforeB)
	}

	if err := stopA(); err != nil {
		t.Fatalf("stop member A: %v", err)
	}
	waitMembers(t, brokers, cfg.TopicPrefix+"sink", 1)
	produceClicks(3000)
	clicksIn("the clicks produced after member A left")
	if err := stopB(); err != nil {
		t.Fatalf("stop member B: %v", err)
	}

	readC, stopC := member()
	time.Sleep(5 * time.Second) // group join and a few empty fetches
	if err := stopC(); err != nil {
		t.Fatalf("stop member C: %v", err)
	}
	if n := readC.Get(); n != 0 {
		t.Fatalf("a new member read %d messages, want 0: the others did not commit everything they inserted", n)
	}
}

// waitMembers waits until group is stable with n members that all hold
// partitions.
func waitMembers(t *testing.T, brokers []string, group string, n int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d members in group %s", n, group), func() (bool, string) {
		resp, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Groups) != 1 {
			return false, fmt.Sprintf("%d groups described", len(resp.Groups))
		}
		g := resp.Groups[0]
		holding := 0
		for _, m := range g.Members {
			if len(m.MemberAssignments.Topics) > 0 {
				holding++
			}
		}
		return g.GroupState == "Stable" && len(g.Members) == n && holding == n, fmt.Sprintf("state %s, %d members, %d with partitions", g.GroupState, len(g.Members), holding)
	})
}
