package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/openaff/affiliate/pkg/services"
)

// cmdBroker runs a throw-away Apache Kafka broker on a free port until it is
// signalled, writing its address to -addr-file once it answers. deploy/test.sh
// starts one for a whole `make test` run.
func cmdBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for the broker's config, log and output (required)")
	addrFile := fs.String("addr-file", "", "file to write host:port to once the broker answers (required)")
	partitions := fs.Int("partitions", 4, "num.partitions of auto-created topics")
	port := fs.Int("port", 0, "client port on 127.0.0.1 (0: a free port)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" || *addrFile == "" {
		fmt.Fprintf(stderr, "devstack broker: -dir and -addr-file are required\n")
		return errUsage
	}
	began := time.Now()
	k, err := services.StartKafka(ctx, services.KafkaConfig{Dir: *dir, Port: *port, Partitions: *partitions})
	if err != nil {
		return err
	}
	defer k.Kill() // throw-away: no need for a clean shutdown
	tmp := *addrFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(k.Addr()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, *addrFile); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devstack broker: Apache Kafka on %s ready in %v (log %s)\n", k.Addr(), time.Since(began).Round(time.Millisecond), k.LogPath())
	// Exit with the script that started us, even if it was killed outright:
	// the kernel then re-parents us and the parent pid changes.
	parent := os.Getppid()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-k.Proc().Done():
			return fmt.Errorf("the broker exited by itself; last lines of %s:\n%s", k.LogPath(), k.Proc().LogTail(30))
		case <-tick.C:
			if os.Getppid() != parent {
				return fmt.Errorf("parent process %d is gone; stopping the broker", parent)
			}
		}
	}
}
