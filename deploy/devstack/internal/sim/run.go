package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
)

// Config is what a Runner needs.
type Config struct {
	// TrackerURL is the tracker's base URL for /v1 (e.g. http://127.0.0.1:8080).
	TrackerURL string
	// ShopKey is a bearer key of AFF_SHOP_API_KEYS.
	ShopKey string
	// Links are the tracking links visitors follow (at least one).
	Links []Link
	// Currency of the orders.
	Currency money.Currency
	// KafkaBrokers, when set, receive KafkaShare of the orders (and their
	// later events) on TopicPrefix+"orders", as a shop producing directly.
	KafkaBrokers []string
	TopicPrefix  string
	KafkaShare   float64
	// Seed makes the plan; Prefix starts every id (order, event, customer).
	Seed   uint64
	Prefix string
	// Rate is the number of requests per second (clicks, logins, order events).
	Rate float64
	// Duration stops the run after this long; 0 runs until the context ends.
	Duration time.Duration
	// MaxErrorsInARow ends the run with an error (0: 100).
	MaxErrorsInARow int
}

// Counts are what the runner has sent so far.
type Counts struct {
	Clicks, BotClicks, Logins     int64
	Orders, OrdersViaKafka        int64
	Delivered, Cancelled, Refunds int64
	Errors                        int64
	LastError                     string
	Devices                       int
	Elapsed                       time.Duration
}

// Runner carries out a Generator's plan.
type Runner struct {
	cfg       Config
	gen       *Generator
	transport *http.Transport
	api       *http.Client // /v1 requests
	jars      []*http.Client
	cookieURL *url.URL // where the device cookie lives (the links' host)
	writer    *kafka.Writer

	mu     sync.Mutex
	counts Counts
	start  time.Time
}

// New checks cfg and returns a Runner. Close it when done.
func New(cfg Config) (*Runner, error) {
	if len(cfg.Links) == 0 {
		return nil, errors.New("sim: no links to follow")
	}
	if cfg.Rate <= 0 {
		return nil, fmt.Errorf("sim: rate %v must be positive", cfg.Rate)
	}
	if cfg.Currency.IsZero() {
		return nil, errors.New("sim: no currency")
	}
	if cfg.MaxErrorsInARow <= 0 {
		cfg.MaxErrorsInARow = 100
	}
	if _, err := url.Parse(cfg.TrackerURL); err != nil || !strings.HasPrefix(cfg.TrackerURL, "http") {
		return nil, fmt.Errorf("sim: tracker URL %q is not an http(s) URL", cfg.TrackerURL)
	}
	cu, err := url.Parse(cfg.Links[0].URL)
	if err != nil || cu.Host == "" {
		return nil, fmt.Errorf("sim: link %q is not an absolute URL", cfg.Links[0].URL)
	}
	cfg.TrackerURL = strings.TrimRight(cfg.TrackerURL, "/")
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	r := &Runner{cfg: cfg, transport: tr, cookieURL: &url.URL{Scheme: cu.Scheme, Host: cu.Host, Path: "/"},
		api: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
	kafkaShare := 0.0
	if len(cfg.KafkaBrokers) > 0 {
		kafkaShare = cfg.KafkaShare
		// A shop producing orders itself: keyed by order id, acknowledged by
		// every replica, a short linger (kafka-go's default is 1 s).
		r.writer = &kafka.Writer{Addr: kafka.TCP(cfg.KafkaBrokers...), Topic: cfg.TopicPrefix + "orders",
			Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
			WriteTimeout: 10 * time.Second, AllowAutoTopicCreation: true, MaxAttempts: 5}
	}
	r.gen = NewGenerator(cfg.Seed, cfg.Links, cfg.Prefix, kafkaShare)
	return r, nil
}

// Close releases the Kafka writer and idle connections.
func (r *Runner) Close() error {
	r.transport.CloseIdleConnections()
	if r.writer != nil {
		return r.writer.Close()
	}
	return nil
}

// Counts returns a copy of the counters.
func (r *Runner) Counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	if !r.start.IsZero() {
		c.Elapsed = time.Since(r.start)
	}
	return c
}

// Run sends the plan at the configured rate until ctx ends or Duration has
// passed (then it returns nil), or until MaxErrorsInARow requests in a row
// failed.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
	}
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	next := time.Now()
	inARow := 0
	for {
		for _, a := range r.gen.Next() {
			// Pace: request n is due at start + n × interval; a slow request
			// is caught up on, never more than a second's worth at once.
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			} else if d < -time.Second {
				next = time.Now()
			}
			next = next.Add(interval)
			if ctx.Err() != nil {
				return nil
			}
			err := r.do(ctx, a)
			if err != nil && ctx.Err() != nil {
				return nil
			}
			r.count(a, err)
			if err == nil {
				inARow = 0
				continue
			}
			if inARow++; inARow >= r.cfg.MaxErrorsInARow {
				return fmt.Errorf("sim: %d requests in a row failed, the last: %w", inARow, err)
			}
		}
	}
}

func (r *Runner) count(a Action, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.counts
	c.Devices = r.gen.Devices()
	if err != nil {
		c.Errors++
		c.LastError = err.Error()
		return
	}
	switch {
	case a.Kind == Click && a.Bot:
		c.Clicks++
		c.BotClicks++
	case a.Kind == Click:
		c.Clicks++
	case a.Kind == Identify:
		c.Logins++
	case a.Type == events.OrderPlaced:
		c.Orders++
		if a.ViaKafka {
			c.OrdersViaKafka++
		}
	case a.Type == events.OrderDelivered:
		c.Delivered++
	case a.Type == events.OrderCancelled:
		c.Cancelled++
	case a.Type == events.OrderRefunded:
		c.Refunds++
	}
}

// device returns the HTTP client (cookie jar) of device i.
func (r *Runner) device(i int) *http.Client {
	for len(r.jars) <= i {
		jar, _ := cookiejar.New(nil) // never fails without options
		r.jars = append(r.jars, &http.Client{Transport: r.transport, Jar: jar, Timeout: 10 * time.Second,
			// A visitor's browser would follow to the shop; we only need the tracker's answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
	}
	return r.jars[i]
}

// token is the device's aff_dt cookie, or for a device that never followed
// a link, the shop's own session id for it.
func (r *Runner) token(dev int) string {
	for _, c := range r.device(dev).Jar.Cookies(r.cookieURL) {
		if c.Name == "aff_dt" {
			return c.Value
		}
	}
	return fmt.Sprintf("%s-shopdev%d", r.cfg.Prefix, dev)
}

func (r *Runner) do(ctx context.Context, a Action) error {
	switch a.Kind {
	case Click:
		return r.click(ctx, a)
	case Identify:
		e := events.Identity{EventID: a.EventID, At: time.Now().UTC(), DeviceToken: r.token(a.Device),
			CustomerID: a.Customer, Email: a.Email}
		b, _ := e.MarshalJSON()
		return r.post(ctx, "/v1/identify", b)
	case Order:
		return r.order(ctx, a)
	}
	panic(fmt.Sprintf("BUG: sim action kind %v", a.Kind))
}

func (r *Runner) click(ctx context.Context, a Action) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.Links[a.Link].URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", a.UserAgent)
	req.Header.Set("Referer", []string{"https://www.instagram.com/", "https://www.youtube.com/", "https://blog.example/"}[a.Device%3])
	resp, err := r.device(a.Device).Do(req)
	if err != nil {
		return fmt.Errorf("click %s: %w", r.cfg.Links[a.Link].URL, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return fmt.Errorf("click %s: %s, want 302", r.cfg.Links[a.Link].URL, resp.Status)
	}
	return nil
}

// OrderEvent builds the order event of an order action sent at time at
// from a device whose token is dev.
func OrderEvent(a Action, cur money.Currency, dev string, at time.Time) events.Order {
	o := events.Order{EventID: a.EventID, Type: a.Type, OrderID: a.OrderID, At: at.UTC(),
		CustomerID: a.Customer, Currency: cur, AmountMinor: a.Amount}
	if !a.NoDevice {
		o.DeviceToken = dev
	}
	switch a.Type {
	case events.OrderPlaced:
		o.Lines, o.ShippingFeeMinor = a.Lines, a.Shipping
	case events.OrderRefunded:
		o.Lines = a.Lines
	}
	return o
}

func (r *Runner) order(ctx context.Context, a Action) error {
	o := OrderEvent(a, r.cfg.Currency, r.token(a.Device), time.Now())
	b, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	if !a.ViaKafka {
		return r.post(ctx, "/v1/orders", b)
	}
	if err := r.writer.WriteMessages(ctx, kafka.Message{Key: []byte(o.OrderID), Value: b}); err != nil {
		return fmt.Errorf("produce %s %s: %w", o.Type, o.OrderID, err)
	}
	return nil
}

func (r *Runner) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.TrackerURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.cfg.ShopKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.api.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusAccepted {
		var e struct {
			Error, Field string
		}
		if json.Unmarshal(msg, &e) == nil && e.Error != "" {
			return fmt.Errorf("POST %s: %s: %s (field %q)", path, resp.Status, e.Error, e.Field)
		}
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
