package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPanicInOrderStepIsRecorded: the order step runs in worker
// goroutines, out of reach of the job runner's recover. A panic there
// (the step has several "BUG:" panics; any runtime error would do) must
// be recorded on the run like a panic of the job itself, with serve going
// on, instead of ending the process (ingest included) and leaving the run
// "running" for ever. The panic is injected through a commission rate the
// schema's CHECK would refuse (dropped for the test).
func TestPanicInOrderStepIsRecorded(t *testing.T) {
	vars, _ := settlerWorld(t)
	pg := vars["AFF_POSTGRES_URL"]
	pgExec(t, t.Context(), pg, `ALTER TABLE commission_rates DROP CONSTRAINT commission_rates_rate_upct_check`)
	pgExec(t, t.Context(), pg, `INSERT INTO commission_rates (product_id, rate_upct) VALUES ('p', 200000000)`)
	everySecond(vars)
	cmd, out, done := startServe(t, vars)
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	const panicked = `SELECT count(*) FROM settlement_runs WHERE job = 'settle' AND error LIKE 'panic: BUG: stored rate%'`
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			code := -1
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			done <- err
			crash := out.String()
			if i := strings.Index(crash, "panic:"); i >= 0 {
				crash, _, _ = strings.Cut(crash[i:], "\n\n")
			}
			t.Fatalf("settler serve exited (code %d) instead of recording the panic and going on; "+
				"settle runs left open: %d, recorded with the panic: %d\n%s", code,
				queryInt(t, pg, `SELECT count(*) FROM settlement_runs WHERE job = 'settle' AND finished_at IS NULL`),
				queryInt(t, pg, panicked), crash)
		case <-time.After(200 * time.Millisecond):
		}
		if queryInt(t, pg, panicked) >= 2 { // recorded, and serve went on to the next run
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settle run recorded the panic within 30 s:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "settle.(*Settler).settleOrders") {
		t.Errorf("the log does not hold the worker's stack:\n%s", out.String())
	}
}
