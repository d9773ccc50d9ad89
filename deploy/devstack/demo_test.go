package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/services"
)

// buildBinaries builds tracker, settler, dashboard and devstack from this
// checkout into a new directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	root := filepath.Dir(defaultDir())
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("no go.work above the test's directory: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	began := time.Now()
	cmd := exec.Command("go", "build", "-o", bin+"/",
		"github.com/openaff/affiliate/tracker/cmd/tracker",
		"github.com/openaff/affiliate/settler/cmd/settler",
		"github.com/openaff/affiliate/dashboard/cmd/dashboard",
		"github.com/openaff/affiliate/deploy/devstack")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built the binaries in %v", time.Since(began).Round(time.Millisecond))
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := services.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

// pgrep returns the pids whose command line contains s (pgrep -f).
func pgrep(t *testing.T, s string) []int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", regexp.QuoteMeta(s)).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return nil // no process matched
		}
		t.Fatalf("pgrep -f %s: %v", s, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

var (
	bannerToken = regexp.MustCompile(`admin API  curl -H 'Authorization: Bearer ([0-9a-f]+)'`)
	bannerKey   = regexp.MustCompile(`shop API   curl -H 'Authorization: Bearer (demo-shop-[0-9a-f]+)'`)
)

// TestDemo runs the devstack binary's demo on free ports with fast
// settlement, checks that the dashboard shows clicks and settled (approved,
// credited) commissions, runs `devstack simulate` alone against the same tracker,
// then stops the demo as Ctrl-C would and checks that no process it
// started remains.
func TestDemo(t *testing.T) {
	bin := buildBinaries(t)
	dir, err := os.MkdirTemp("", "devstack-demo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	trackerAddr, dashboardAddr := freeAddr(t), freeAddr(t)
	args := append(upArgs(t, dir)[1:], "-bin", bin, "-tracker-addr", trackerAddr, "-dashboard-addr", dashboardAddr,
		"-sink-metrics-addr", freeAddr(t), "-settler-metrics-addr", freeAddr(t), "-rate", "40", "-seed", "3",
		"-auto-approve", "1s", "-reserve-period", "5s", "-settle-every", "1s")
	// The real binary in its own process group, as a shell runs it.
	out := &syncBuffer{}
	cmd := exec.Command(filepath.Join(bin, "devstack"), append([]string{"demo"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		cmd.Wait()
		done <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(90 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	})
	ctx := context.Background()
	waitFor(t, out, done, "The simulator plays", 2*time.Minute)
	t.Logf("demo ready after %v", time.Since(began).Round(time.Millisecond))
	token := bannerToken.FindStringSubmatch(out.String())
	key := bannerKey.FindStringSubmatch(out.String())
	if token == nil || key == nil {
		t.Fatalf("the banner lacks the admin token or the shop key:\n%s", out)
	}
	for _, want := range []string{"http://" + dashboardAddr + "/login", demoAdminEmail + " / " + demoAdminPassword,
		"trailtales@demo.local / " + demoPartnerPassword} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the banner lacks %q:\n%s", want, out)
		}
	}

	// Settled commissions: approved in the API and credited on a balance.
	ctxAPI, cancelAPI := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelAPI()
	api := newAdminAPI("http://"+dashboardAddr, token[1])
	var approved int
	var available string
	for {
		var cs struct {
			Commissions []struct {
				Amount, State string
			} `json:"commissions"`
		}
		if err := api.call(ctxAPI, "GET", "/api/admin/commissions?state=approved&per_page=100", nil, &cs); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		approved = len(cs.Commissions)
		available = creditedBalance(t, ctxAPI, api)
		if approved > 0 && available != "" {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d:\n%s", code, out)
		case <-ctxAPI.Done():
			t.Fatalf("no settled commission after 90 s (approved %d, available %q):\n%s", approved, available, out)
		case <-time.After(time.Second):
		}
	}
	t.Logf("%d approved commissions, a partner has %s available, %v after start", approved, available, time.Since(began).Round(time.Millisecond))

	// Clicks on the admin overview (ClickHouse through the dashboard).
	pn, err := panelLogin(ctxAPI, "http://"+dashboardAddr, demoAdminEmail, demoAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	clicks, err := pn.clicksShown(ctxAPI)
	if err != nil || clicks == 0 {
		t.Fatalf("admin overview shows %d clicks, %v; want some", clicks, err)
	}
	// A partner logs in with the printed password.
	if _, err := panelLogin(ctxAPI, "http://"+dashboardAddr, "gearguru@demo.local", demoPartnerPassword); err != nil {
		t.Fatalf("partner login: %v", err)
	}

	// The simulator alone, links from the dashboard, orders over HTTP only.
	var simOut bytes.Buffer
	simArgs := []string{"simulate", "-tracker", "http://" + trackerAddr, "-shop-key", key[1], "-dashboard", "http://" + dashboardAddr,
		"-admin-token", token[1], "-kafka", "", "-postgres", "", "-rate", "50", "-duration", "2s", "-seed", "9"}
	if code := run(ctx, simArgs, &simOut, &simOut); code != 0 {
		t.Fatalf("devstack simulate exited with %d:\n%s", code, simOut.String())
	}
	if s := simOut.String(); !strings.Contains(s, "simulate: 12 links") || !regexp.MustCompile(`sent: [1-9]\d* clicks`).MatchString(s) ||
		!strings.Contains(s, "(0 via Kafka)") || strings.Contains(s, " errors") {
		t.Fatalf("devstack simulate output:\n%s", s)
	}

	// Every process the demo started, found by pgrep before the stop.
	pids := append(pgrep(t, bin), serverPids(t, dir)...)
	if len(pids) < 6 { // four binaries, Postgres, ClickHouse
		t.Fatalf("found %d processes of the demo before the stop, want at least 6: %v", len(pids), pids)
	}
	var groups []int
	for _, pid := range pids {
		if g, err := syscall.Getpgid(pid); err == nil {
			groups = append(groups, g)
		}
	}
	stopped := time.Now()
	// Ctrl-C: the terminal signals the foreground process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited with %d after the stop:\n%s", code, out)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("demo still runs 90 s after the stop:\n%s", out)
	}
	t.Logf("stopped in %v", time.Since(stopped).Round(time.Millisecond))
	if left := append(pgrep(t, bin), pgrep(t, dir)...); len(left) > 0 {
		t.Fatalf("processes left after the stop: %v", left)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Fatalf("process %d still runs after the stop", pid)
		}
	}
	for _, g := range groups {
		if err := syscall.Kill(-g, 0); err != syscall.ESRCH {
			t.Fatalf("process group %d still has members after the stop (kill -0: %v)", g, err)
		}
	}
	if _, err := os.Stat(pidPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
	if !strings.Contains(out.String(), "| settled:") {
		t.Fatalf("no progress line with settled figures:\n%s", out)
	}
}

// creditedBalance returns the first non-zero available balance of a
// partner, or "".
func creditedBalance(t *testing.T, ctx context.Context, api *adminAPI) string {
	t.Helper()
	ps, err := api.partners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		var b struct{ Available string }
		if err := api.call(ctx, "GET", fmt.Sprintf("/api/admin/partners/%d/balance", p.ID), nil, &b); err != nil {
			t.Fatal(err)
		}
		if b.Available != "" && strings.Trim(b.Available, "0.") != "" && !strings.HasPrefix(b.Available, "-") {
			return b.Available
		}
	}
	return ""
}

// waitFor waits until out contains want, failing when run returns first.
func waitFor(t *testing.T, out *syncBuffer, done chan int, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d before %q:\n%s", code, want, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %v:\n%s", want, limit, out)
		}
	}
}
