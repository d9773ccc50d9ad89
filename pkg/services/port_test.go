package services

import (
	"fmt"
	"net"
	"testing"
)

// FreePort hands out distinct ports below the kernel's ephemeral range
// (where no outgoing connection takes them meanwhile) that can be bound.
func TestFreePort(t *testing.T) {
	hi := ephemeralStart()
	seen := map[int]bool{}
	for range 50 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p < minPickedPort || p >= hi {
			t.Fatalf("port %d outside %d-%d, below the ephemeral range", p, minPickedPort, hi-1)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d cannot be bound: %v", p, err)
		}
		l.Close()
	}
}
