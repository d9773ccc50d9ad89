// Package services starts the real servers the project runs on — Postgres,
// ClickHouse and a Kafka broker (Apache Kafka from its jars, or the embedded
// kfake) — as child processes in a directory of the caller's choosing.
//
// pkg/testenv uses it for throw-away servers on random ports, and
// deploy/devstack for the long-lived dev stack on fixed ports. Every child
// runs in its own process group, writes its output to a log file, and on
// Linux is signalled when the process that started it dies, so a killed
// parent leaves no server behind.
package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MissingError reports a binary or file the services need that is not
// installed, with the command that installs it.
type MissingError struct {
	What    string // what is missing, e.g. "clickhouse-server"
	Install string // the command that installs it
}

// Error implements error.
func (e *MissingError) Error() string {
	return fmt.Sprintf("%s is not installed; install it with: %s", e.What, e.Install)
}

// ProcSpec describes a child process.
type ProcSpec struct {
	Name    string   // short name used in messages, e.g. "postgres"
	Path    string   // executable
	Args    []string // arguments, without the executable
	Dir     string   // working directory
	Env     []string // environment; nil means the parent's
	LogPath string   // stdout and stderr are appended here
	// Credential runs the child as another user (Postgres refuses root).
	Credential *syscall.Credential
	// DeathSignal is sent to the child when the parent dies (Linux only);
	// zero means SIGKILL.
	DeathSignal syscall.Signal
}

// Proc is a running child process in its own process group.
type Proc struct {
	spec ProcSpec
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
	log  *os.File
}

// StartProc starts the process described by spec. The caller must
// eventually call Stop or Kill.
func StartProc(spec ProcSpec) (*Proc, error) {
	logf, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s log: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr(spec.Credential, spec.DeathSignal)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("cannot start %s: %w", spec.Name, err)
	}
	p := &Proc{spec: spec, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id of the child.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the child's whole process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Stop sends sig to the process group and waits up to grace for the
// process to exit, then kills the group. It returns once the process has
// exited.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) {
	if exited, _ := p.Exited(); exited {
		p.Signal(syscall.SIGKILL) // stray grandchildren, if any
		return
	}
	p.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	p.Kill()
}

// Kill kills the process group and waits for the process to exit.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// LogTail returns the last n lines of the process's log file.
func (p *Proc) LogTail(n int) string { return TailFile(p.spec.LogPath, n) }

// exitError describes an early exit with the tail of the log.
func (p *Proc) exitError() error {
	return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s", p.spec.Name, p.err, p.spec.LogPath, p.LogTail(30))
}

// TailFile returns the last n lines of the file at path (at most 64 KiB
// are read), or a note saying why it cannot.
func TailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const maxBytes = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxBytes {
		f.Seek(st.Size()-maxBytes, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, maxBytes))
	b = bytes.TrimRight(b, "\n")
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady calls probe every interval until it succeeds, the process
// exits, or ctx ends.
func waitReady(ctx context.Context, p *Proc, probe func(context.Context) error) error {
	const interval = 50 * time.Millisecond
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last probe: %v); last lines of %s:\n%s",
				p.spec.Name, ctx.Err(), last, p.spec.LogPath, p.LogTail(30))
		case <-time.After(interval):
		}
	}
}

var portMu sync.Mutex
var portsHanded = map[int]bool{}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on and that
// this process has not handed out before. It picks at random below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), where no
// outgoing connection can take the port as its source port in the seconds
// before the service it is meant for binds it (a broker's JVM takes
// several): with a port the kernel handed out for 127.0.0.1:0, any
// connection made meanwhile could, and the service then failed with
// "Address already in use". Between processes picking at once, the random
// pick and the bind check make a collision unlikely.
func FreePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := minPickedPort, ephemeralStart()
	if hi-lo < 1000 {
		return kernelPort()
	}
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		if portsHanded[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		portsHanded[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("cannot find a free port in %d-%d: 200 tries", lo, hi-1)
}

// minPickedPort is the lowest port FreePort picks.
const minPickedPort = 15000

// ephemeralStart returns the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// kernelPort is FreePort for a machine whose ephemeral range leaves no room
// below it: a port the kernel picks, not handed out before.
func kernelPort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("cannot find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsHanded[port] {
			portsHanded[port] = true
			return port, nil
		}
	}
	return 0, errors.New("cannot find a free port: 100 tries returned used ones")
}

// PortInUse reports whether something accepts connections on 127.0.0.1:port.
func PortInUse(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// lookPath finds an executable on PATH or at one of the extra paths.
func lookPath(name string, extra ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, p := range extra {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
