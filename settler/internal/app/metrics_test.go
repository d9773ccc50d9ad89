package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue is the value of the sample named exactly name (with its
// labels) in a Prometheus text page, or -1 when there is none.
func metricValue(page, name string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestServeMetricsSayWhatWaits: the run records alone showed neither lag
// nor waiting work (a pass that leaves every order waiting for the clicks
// watermark records "orders: 0"); serve's metrics say how far ingest is
// behind per topic, what waits for a pass and since when, and how the jobs
// and the ingest fare.
func TestServeMetricsSayWhatWaits(t *testing.T) {
	w := newWorld(t)
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	var orders, ids []string
	for i := range 20 {
		orders = append(orders, fmt.Sprintf(`{"v":1,"event_id":"e%d","type":"order.placed","order_id":"o%d","at":%q,"currency":"EUR","lines":[{"line_id":"1","product_id":"p","quantity":1,"unit_price":"10.00"}]}`,
			i, i, at.Format(time.RFC3339)))
	}
	for i := range 3 {
		ids = append(ids, fmt.Sprintf(`{"v":1,"event_id":"i%d","at":%q,"device_token":"d%d","customer_id":"c%d"}`, i, at.Format(time.RFC3339), i, i))
	}
	w.produce("orders", orders...)
	w.produce("identities", ids...)
	opts := DefaultOptions()
	opts.GroupID = "settler-" + w.cfg.KafkaTopicPrefix
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Nothing consumed yet: the lag is every message.
	d, err := open(ctx, w.cfg, opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	m := newServeMetrics()
	pollOnce(t, m, d)
	d.close()
	page := func() string {
		var b strings.Builder
		m.set.WritePrometheus(&b)
		return b.String()
	}
	orderLag := `aff_settler_ingest_lag_messages{topic="` + w.cfg.Topic("orders") + `"}`
	idLag := `aff_settler_ingest_lag_messages{topic="` + w.cfg.Topic("identities") + `"}`
	if p := page(); metricValue(p, orderLag) != 20 || metricValue(p, idLag) != 3 {
		t.Fatalf("before ingest: lag %v orders, %v identities, want 20 and 3:\n%s", metricValue(p, orderLag), metricValue(p, idLag), p)
	}

	// A pass ingests everything; with no clicks watermark the orders and
	// logins wait for it (a pass records orders: 0).
	w.run()
	d, err = open(ctx, w.cfg, opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	pollOnce(t, m, d)
	d.close()
	p := page()
	for name, want := range map[string]float64{orderLag: 0, idLag: 0, "aff_settler_queued_orders": 20, "aff_settler_waiting_identities": 3} {
		if got := metricValue(p, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if metricValue(p, "aff_settler_queued_orders_oldest_seconds") <= 0 || metricValue(p, "aff_settler_waiting_identities_oldest_seconds") <= 0 {
		t.Errorf("no age of the oldest waiting order and login:\n%s", p)
	}

	// serve -metrics-addr: runs, ingest and the gauges on GET /metrics.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	opts.MetricsAddr = addr
	opts.SettleSchedule, opts.ApproveSchedule, opts.ReleaseSchedule, opts.RelaySchedule = "@every 1s", "@every 1s", "@every 1s", "@every 1s"
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ServeWith(sctx, w.cfg, opts, quiet) }()
	w.produce("orders", fmt.Sprintf(`{"v":1,"event_id":"e-new","type":"order.placed","order_id":"o-new","at":%q,"currency":"EUR","lines":[{"line_id":"1","product_id":"p","quantity":1,"unit_price":"10.00"}]}`, at.Format(time.RFC3339)))
	var got string
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = string(b)
		}
		if metricValue(got, `aff_settler_job_runs_total{settler_job="settle",outcome="ok"}`) >= 1 &&
			metricValue(got, `aff_settler_ingest_messages_total{result="applied"}`) >= 1 &&
			metricValue(got, `aff_settler_job_last_success_timestamp_seconds{settler_job="settle"}`) > 0 &&
			metricValue(got, "aff_settler_ingest_last_batch_timestamp_seconds") > 0 &&
			metricValue(got, "aff_settler_queued_orders") >= 20 && metricValue(got, orderLag) >= 0 &&
			metricValue(got, "aff_settler_ingest_errors_total") == 0 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("serve's /metrics on %s did not show the runs, the ingest and the queue within 60 s:\n%s", addr, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// pollOnce reads the gauges, again while the group's coordinator is not
// known yet (a new group: the next poll of serve's loop would succeed).
func pollOnce(t *testing.T, m *serveMetrics, d *deps) {
	t.Helper()
	var err error
	for range 80 {
		if err = m.pollOnce(context.Background(), d); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal(err)
}
