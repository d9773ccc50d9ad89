// Command devstack runs the project's services for local development:
// Postgres, ClickHouse and a Kafka broker, kept under the project-local .dev/
// directory on fixed ports, with the schema migrations applied.
//
//	devstack up      start everything and wait for Ctrl-C (what `make dev` runs)
//	devstack status  say whether a dev stack runs, and where
//	devstack down    stop a running dev stack
//	devstack broker  run a throw-away Apache Kafka broker (deploy/test.sh uses it)
//	devstack demo    the whole platform with simulated traffic (what `make demo` runs)
//	devstack simulate  the traffic simulator alone, against any tracker and Kafka
//
// Kafka is the embedded kfake broker by default; its log lives in memory and
// is lost when devstack stops. AFF_KAFKA=apache runs the real Apache Kafka
// broker from the jars deploy/install-deps.sh fetched, with its log in .dev/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: devstack up|status|down|broker|demo|simulate [flags]
  up      start Postgres, ClickHouse and Kafka under .dev/ and wait for Ctrl-C
  status  print whether a dev stack runs, and its addresses
  down    stop a running dev stack
  broker  run a throw-away Apache Kafka broker on a free port (for make test)
  demo    start the stack, migrations, tracker serve and sink, settler serve, dashboard serve,
          an admin and partners, and the traffic simulator, until Ctrl-C (make demo)
  simulate  run the traffic simulator against a running tracker (and Kafka)
Run "devstack CMD -h" for the flags of CMD.
`

// run executes one devstack command and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "up":
		err = cmdUp(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "down":
		err = cmdDown(args[1:], stdout, stderr)
	case "broker":
		err = cmdBroker(ctx, args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "simulate":
		err = cmdSimulate(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "devstack: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 1
	}
	return 0
}
