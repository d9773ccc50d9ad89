package sim

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
)

var testLinks = []Link{
	{URL: "http://127.0.0.1:8080/trailtales"},
	{URL: "http://127.0.0.1:8080/r/abcd1234", ProductID: "sku-tent-2p"},
	{URL: "http://127.0.0.1:8080/r/efgh5678", ProductID: "sku-hiking-boot"},
	{URL: "http://127.0.0.1:8080/r/cat00001"},
}

// sessions returns the first n sessions of a generator.
func sessions(seed uint64, n int, share float64) [][]Action {
	g := NewGenerator(seed, testLinks, "t", share)
	out := make([][]Action, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, b := sessions(7, 2000, 0.3), sessions(7, 2000, 0.3)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two generators with seed 7 differ")
	}
	if c := sessions(8, 2000, 0.3); reflect.DeepEqual(a, c) {
		t.Fatalf("seeds 7 and 8 give the same sessions")
	}
}

// orderState follows one order through its events.
type orderState struct {
	placed               Action
	cancelled, delivered bool
	refunds              int
	lastAt               int // index of the order's last action in the flat plan
	viaKafka             bool
}

// TestPlanInvariants walks a long plan and checks what the tracker and the
// settler rely on, and that every scenario the demo promises occurs.
func TestPlanInvariants(t *testing.T) {
	const n = 20_000
	cur := money.MustParseCurrency("EUR")
	g := NewGenerator(42, testLinks, "t", 0.3)
	clicked := map[int]bool{}   // device → followed a link
	botDevice := map[int]bool{} // device → a bot's
	loggedIn := map[int]string{}
	customerDevices := map[string]map[int]bool{}
	eventIDs := map[string]bool{}
	orders := map[string]*orderState{}
	var (
		i                                                       int
		botClicks, guestOrders, crossDevice, sharedDevice, kafk int
		organic, lineRefunds, amountRefunds, noDevice           int
	)
	for range n {
		for _, a := range g.Next() {
			i++
			if a.Kind != Click {
				if a.EventID == "" || eventIDs[a.EventID] {
					t.Fatalf("action %d: event id %q empty or repeated", i, a.EventID)
				}
				eventIDs[a.EventID] = true
				if botDevice[a.Device] {
					t.Fatalf("action %d: a bot's device %d does %v", i, a.Device, a.Kind)
				}
			}
			switch a.Kind {
			case Click:
				if a.Link < 0 || a.Link >= len(testLinks) {
					t.Fatalf("action %d: link %d out of range", i, a.Link)
				}
				if a.Bot {
					botClicks++
					botDevice[a.Device] = true
					if !contains(BotAgents, a.UserAgent) {
						t.Fatalf("action %d: bot click with user agent %q", i, a.UserAgent)
					}
				} else if !contains(BrowserAgents, a.UserAgent) {
					t.Fatalf("action %d: browser click with user agent %q", i, a.UserAgent)
				}
				clicked[a.Device] = true
			case Identify:
				if a.Customer == "" || !strings.Contains(a.Email, "@") {
					t.Fatalf("action %d: identify without customer or e-mail: %+v", i, a)
				}
				if loggedIn[a.Device] != "" && loggedIn[a.Device] != a.Customer && clicked[a.Device] {
					sharedDevice++
				}
				if !clicked[a.Device] && len(customerDevices[a.Customer]) > 0 {
					crossDevice++
				}
				loggedIn[a.Device] = a.Customer
				if customerDevices[a.Customer] == nil {
					customerDevices[a.Customer] = map[int]bool{}
				}
				customerDevices[a.Customer][a.Device] = true
			case Order:
				checkOrderAction(t, i, a, orders)
				// Every event must pass the decoder the tracker and settler use.
				b, err := OrderEvent(a, cur, "tok", time.Unix(1700000000, 0)).MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := events.DecodeOrder(b); err != nil {
					t.Fatalf("action %d: DecodeOrder(%s) = %v", i, b, err)
				}
				if a.Type == events.OrderPlaced {
					switch {
					case a.Customer == "":
						guestOrders++
						if !clicked[a.Device] {
							organic++
						}
					case a.Customer != loggedIn[a.Device]:
						t.Fatalf("action %d: customer %s orders on device %d without logging in there", i, a.Customer, a.Device)
					}
					if a.ViaKafka {
						kafk++
					}
					if a.NoDevice {
						noDevice++
					}
				}
				if a.Type == events.OrderRefunded {
					if len(a.Lines) > 0 {
						lineRefunds++
					} else {
						amountRefunds++
					}
				}
			}
		}
	}
	placed := len(orders)
	t.Logf("%d actions: %d orders (%d guest, %d organic guest, %d via Kafka, %d without device), %d bot clicks, "+
		"%d cross-device logins, %d shared-device logins, %d line refunds, %d amount refunds, %d pending",
		i, placed, guestOrders, organic, kafk, noDevice, botClicks, crossDevice, sharedDevice, lineRefunds, amountRefunds, g.Pending())
	var cancelled, delivered int
	for _, o := range orders {
		if o.cancelled {
			cancelled++
		}
		if o.delivered {
			delivered++
		}
	}
	f := func(name string, got, lo, hi int) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %d, want %d..%d", name, got, lo, hi)
		}
	}
	// Shares follow the scenario weights; the bounds are loose so they hold
	// for any seed, tight enough to catch a scenario that never happens.
	f("orders", placed, n/4, n)
	f("orders via Kafka", kafk, placed/5, placed*2/5)
	f("cancelled orders", cancelled, placed/20, placed/5)
	f("delivered orders", delivered, placed*6/10, placed*9/10)
	f("bot clicks", botClicks, n/50, n/5)
	f("guest orders", guestOrders, placed/10, placed*6/10)
	f("organic guest orders", organic, 1, placed/4)
	f("cross-device logins", crossDevice, n/50, n/5)
	f("shared-device logins", sharedDevice, 1, n/10)
	f("line refunds", lineRefunds, 1, delivered/5)
	f("amount refunds", amountRefunds, 1, delivered/5)
	f("orders without device", noDevice, 1, placed/10)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkOrderAction checks an order event against its order's history: the
// lifecycle placed → (cancelled | delivered → refunded), the same channel
// for every event of an order, refunds within what was bought.
func checkOrderAction(t *testing.T, i int, a Action, orders map[string]*orderState) {
	t.Helper()
	o := orders[a.OrderID]
	if a.Type == events.OrderPlaced {
		if o != nil {
			t.Fatalf("action %d: order %s placed twice", i, a.OrderID)
		}
		if len(a.Lines) == 0 || len(a.Lines) > 4 {
			t.Fatalf("action %d: order %s has %d lines", i, a.OrderID, len(a.Lines))
		}
		orders[a.OrderID] = &orderState{placed: a, lastAt: i, viaKafka: a.ViaKafka}
		return
	}
	if o == nil {
		t.Fatalf("action %d: %s of order %s before it was placed", i, a.Type, a.OrderID)
	}
	if a.ViaKafka != o.viaKafka || a.Device != o.placed.Device || a.Customer != o.placed.Customer {
		t.Fatalf("action %d: %s of order %s differs from the order in channel, device or customer", i, a.Type, a.OrderID)
	}
	if i-o.lastAt < 1 {
		t.Fatalf("action %d: %s of order %s not after its previous event", i, a.Type, a.OrderID)
	}
	o.lastAt = i
	switch a.Type {
	case events.OrderCancelled:
		if o.cancelled || o.delivered {
			t.Fatalf("action %d: order %s cancelled after being cancelled or delivered", i, a.OrderID)
		}
		o.cancelled = true
	case events.OrderDelivered:
		if o.cancelled || o.delivered {
			t.Fatalf("action %d: order %s delivered twice or after cancellation", i, a.OrderID)
		}
		o.delivered = true
	case events.OrderRefunded:
		if !o.delivered || o.refunds > 0 {
			t.Fatalf("action %d: order %s refunded before delivery or twice", i, a.OrderID)
		}
		o.refunds++
		checkRefund(t, i, a, o.placed)
	default:
		t.Fatalf("action %d: unknown order type %q", i, a.Type)
	}
}

func checkRefund(t *testing.T, i int, r, placed Action) {
	t.Helper()
	if (len(r.Lines) > 0) == (r.Amount > 0) {
		t.Fatalf("action %d: refund of %s needs lines or an amount, not both: %+v", i, r.OrderID, r)
	}
	for _, rl := range r.Lines {
		var bought *events.Line
		for j := range placed.Lines {
			if placed.Lines[j].LineID == rl.LineID {
				bought = &placed.Lines[j]
			}
		}
		if bought == nil || rl.Quantity > bought.Quantity || rl.ProductID != bought.ProductID || rl.BaseMinor() > bought.BaseMinor() {
			t.Fatalf("action %d: refund line %+v does not fit the order's line %+v", i, rl, bought)
		}
	}
	if r.Amount > 0 {
		var total int64
		for _, l := range placed.Lines {
			total += l.BaseMinor()
		}
		if r.Amount > total {
			t.Fatalf("action %d: refund of %d exceeds the order's %d", i, r.Amount, total)
		}
	}
}

func TestLinkedProductIsUsuallyBought(t *testing.T) {
	g := NewGenerator(3, testLinks, "t", 0)
	var fromLink, withProduct int
	for range 5000 {
		s := g.Next()
		if len(s) < 2 || s[0].Kind != Click || s[0].Bot || testLinks[s[0].Link].ProductID == "" {
			continue
		}
		last := s[len(s)-1]
		if last.Kind != Order || last.Type != events.OrderPlaced {
			continue
		}
		fromLink++
		for _, l := range last.Lines {
			if l.ProductID == testLinks[s[0].Link].ProductID {
				withProduct++
				break
			}
		}
	}
	// 70 % add the linked product; other lines may be it by chance too.
	if fromLink < 100 || withProduct*100 < fromLink*60 || withProduct*100 > fromLink*95 {
		t.Fatalf("%d of %d orders after a product link hold the product, want 60..95 %%", withProduct, fromLink)
	}
}

func TestNoKafkaShareSendsEverythingOverHTTP(t *testing.T) {
	for _, s := range sessions(5, 3000, 0) {
		for _, a := range s {
			if a.ViaKafka {
				t.Fatalf("kafka share 0, yet %s %s goes to Kafka", a.Type, a.OrderID)
			}
		}
	}
}

func TestScheduleKeepsDueOrder(t *testing.T) {
	g := NewGenerator(1, testLinks, "t", 0)
	g.step = 10
	for _, in := range []int{5, 3, 5, 1, 9, 3} {
		g.schedule(in, Action{Kind: Order, OrderID: "o" + string(rune('0'+in))})
	}
	var got []int
	var ids []string
	for _, f := range g.queue {
		got = append(got, f.due)
		ids = append(ids, f.action.EventID)
	}
	if want := []int{11, 13, 13, 15, 15, 19}; !reflect.DeepEqual(got, want) {
		t.Fatalf("due steps = %v, want %v", got, want)
	}
	// Equal due steps keep their scheduling order (event ids t-e2 < t-e6).
	if ids[1] != "t-e2" || ids[2] != "t-e6" || ids[3] != "t-e1" || ids[4] != "t-e3" {
		t.Fatalf("event ids in queue order = %v", ids)
	}
}

func TestNewGeneratorWithoutLinksPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewGenerator(no links) did not panic")
		}
	}()
	NewGenerator(1, nil, "t", 0)
}
