package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const childEnv = "AFF_TESTENV_PANIC_CHILD"

// TestPanicLeavesNoServer runs a copy of this test binary that starts all
// three servers and panics, then checks that no process of theirs is left
// and that the next binary removes the dead one's temporary directory.
func TestPanicLeavesNoServer(t *testing.T) {
	if out := os.Getenv(childEnv); out != "" {
		panicChild(t, out)
		return
	}
	// Let the servers TestMain prestarted finish first: six JVM and server
	// starts at once on two cores would only slow both.
	state.pg.settle()
	state.ch.settle()
	state.kafka.settle()
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicLeavesNoServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+pidFile, KafkaEnv+"="+Apache, KafkaBrokersEnv+"=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("child did not panic as planned: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child wrote no pids: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	base, pids := lines[0], lines[1:]
	if len(pids) < 3 {
		t.Fatalf("child reported %d server processes, want at least 3 (postgres, clickhouse, java)", len(pids))
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for alive(pid) {
			if time.Now().After(deadline) {
				cmdline, _ := os.ReadFile("/proc/" + p + "/cmdline")
				t.Fatalf("process %d (%s) of the panicked test binary still runs", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	sweepStale()
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Fatalf("temporary directory %s of the panicked binary not swept: %v", base, err)
	}
}

func panicChild(t *testing.T, pidFile string) {
	if _, err := state.pg.get(); err != nil {
		t.Fatal(err)
	}
	if _, err := state.ch.get(); err != nil {
		t.Fatal(err)
	}
	if _, err := state.kafka.get(); err != nil {
		t.Fatal(err)
	}
	pg, _ := state.pg.get()
	ch, _ := state.ch.get()
	var pids []string
	for _, leader := range []int{pg.srv.Proc().Pid(), ch.srv.Proc().Pid(), state.kafkaProc.Pid()} {
		for _, p := range groupMembers(leader) {
			pids = append(pids, strconv.Itoa(p))
		}
	}
	data := state.base + "\n" + strings.Join(pids, "\n") + "\n"
	if err := os.WriteFile(pidFile, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	panic("deliberate panic with servers running")
}

// groupMembers returns the processes of process group pgid (Linux /proc).
func groupMembers(pgid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
