// Command tracker is the affiliate platform's HTTP edge.
//
//	tracker serve [flags]   redirects, device cookie, clicks and shop events into Kafka
//	tracker sink [flags]    Kafka → ClickHouse sink
//
// Configuration comes from the AFF_* environment (DESIGN §4.1); `tracker
// serve -h` lists the limits and tunables.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/tracker/internal/serve"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

const usage = `usage: tracker <command> [flags]

commands:
  serve   the HTTP edge: redirects, device cookie, clicks and shop events into Kafka
  sink    the Kafka to ClickHouse sink
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve.Main(ctx, os.Args[2:])
	case "sink": // written by the sink's owner: tracker/internal/sink
		err = sink.Main(ctx, os.Args[2:])
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracker:", err)
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			os.Exit(2) // bad configuration, as for bad usage
		}
		os.Exit(1)
	}
}
