package testenv

import (
	"fmt"
	"os"
)

// DebugEnv, when set to 1, makes testenv print to stderr when each server is
// ready and how long it took.
const DebugEnv = "AFF_TEST_DEBUG"

func debugf(format string, args ...any) {
	if os.Getenv(DebugEnv) == "1" {
		fmt.Fprintf(os.Stderr, "testenv: "+format+"\n", args...)
	}
}
