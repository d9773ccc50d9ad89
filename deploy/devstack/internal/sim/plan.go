// Package sim is a traffic simulator: visitors on many devices follow
// partner links (some of them bots), log in, order as guests or customers,
// come back on other devices, and a shop sends the orders' later life
// (deliveries, cancellations, partial refunds) to the tracker's /v1 API or
// straight into Kafka.
//
// The plan (what happens, in which order) is a pure function of the seed and
// the links: Generator. The Runner carries a plan out against a tracker (one
// cookie jar per device) and Kafka, at a given rate.
package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/openaff/affiliate/pkg/events"
)

// Link is a tracking link the visitors follow.
type Link struct {
	URL       string // absolute tracking URL (/r/{code} or a partner's /{slug})
	ProductID string // the product the link points to, if any
}

// Product is an item of the simulated shop.
type Product struct {
	ID, Category string
	PriceMinor   int64
}

// Catalog is the simulated shop's assortment (prices in minor units).
var Catalog = []Product{
	{"sku-tent-2p", "camping", 14990}, {"sku-sleeping-bag", "camping", 7990},
	{"sku-stove", "camping", 4590}, {"sku-headlamp", "camping", 2490},
	{"sku-trail-shoe", "shoes", 12900}, {"sku-hiking-boot", "shoes", 18900},
	{"sku-rain-jacket", "clothing", 15900}, {"sku-fleece", "clothing", 6990},
	{"sku-merino-tee", "clothing", 4990}, {"sku-socks-3", "clothing", 1990},
	{"sku-backpack-30", "bags", 10900}, {"sku-bottle", "bags", 1590},
}

// Kind is what an action does.
type Kind int

// The kinds of action.
const (
	// Click: the device follows a tracking link (GET, redirect not followed).
	Click Kind = iota + 1
	// Identify: the customer logs in on the device (/v1/identify).
	Identify
	// Order: an order event (/v1/orders, or Kafka when ViaKafka).
	Order
)

func (k Kind) String() string {
	switch k {
	case Click:
		return "click"
	case Identify:
		return "identify"
	case Order:
		return "order"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Action is one request of the simulation.
type Action struct {
	Kind   Kind
	Device int // device index: each device is one cookie jar
	// Click
	Link      int    // index into the links
	UserAgent string // a browser's or a bot's
	Bot       bool
	// Identify and Order
	Customer string // "" for a guest order
	Email    string
	EventID  string
	// Order
	Type     events.OrderType
	OrderID  string
	Lines    []events.Line // order.placed: the lines; order.refunded: the refunded quantities
	Shipping int64         // order.placed: shipping fee in minor units
	Amount   int64         // order.refunded without lines: the refunded amount in minor units
	ViaKafka bool
	// NoDevice: the order carries no device token (e.g. a phone order).
	NoDevice bool
}

// Browsers and bots the visitors present.
var (
	BrowserAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	}
	BotAgents = []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	}
)

// Scenario weights (out of 100) of a new session.
const (
	pctBot         = 8  // a crawler follows one or two links
	pctNewVisitor  = 50 // a new device comes through a link
	pctReturn      = 13 // a known device comes back through a link
	pctCrossDevice = 10 // a customer orders from another device, no click there
	pctSharedDev   = 5  // another person logs in on a clicked device and orders
	// the rest: an organic visitor (no link) orders
)

// person is a shop customer (or a guest when customer is "").
type person struct {
	customer, email string
	devices         []int
}

// followUp is an order's later event, due at a step.
type followUp struct {
	due    int
	action Action
}

// Generator produces the simulation's sessions. It is deterministic: the
// same seed, links and prefix give the same sessions.
type Generator struct {
	rng        *rand.Rand
	links      []Link
	prefix     string  // prefix of every id, so runs against one database do not collide
	kafkaShare float64 // share of orders (with their later events) sent to Kafka
	step       int
	devices    int
	clicked    []bool // per device: has followed a link (holds a cookie)
	isBot      []bool // per device: a crawler's
	people     []person
	events     int
	orders     int
	queue      []followUp // ordered by due, then by insertion
}

// NewGenerator returns a generator over links (at least one).
func NewGenerator(seed uint64, links []Link, prefix string, kafkaShare float64) *Generator {
	if len(links) == 0 {
		panic("BUG: sim.NewGenerator needs at least one link")
	}
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), links: links, prefix: prefix, kafkaShare: kafkaShare}
}

// Devices returns how many devices the plan has used so far.
func (g *Generator) Devices() int { return g.devices }

// Pending returns how many later order events are scheduled.
func (g *Generator) Pending() int { return len(g.queue) }

// Next returns the next session: a due later event of an earlier order, or
// a new visit of one or more actions, in the order they must happen.
func (g *Generator) Next() []Action {
	g.step++
	if len(g.queue) > 0 && g.queue[0].due <= g.step {
		f := g.queue[0]
		g.queue = g.queue[1:]
		g.after(f.action)
		return []Action{f.action}
	}
	switch r := g.rng.IntN(100); {
	case r < pctBot:
		return g.bot()
	case r < pctBot+pctNewVisitor:
		return g.newVisitor()
	case r < pctBot+pctNewVisitor+pctReturn && len(g.people) > 0:
		return g.returning()
	case r < pctBot+pctNewVisitor+pctReturn+pctCrossDevice && len(g.people) > 0:
		return g.crossDevice()
	case r < pctBot+pctNewVisitor+pctReturn+pctCrossDevice+pctSharedDev && len(g.people) > 0:
		return g.sharedDevice()
	default:
		return g.organic()
	}
}

func (g *Generator) newDevice(clicked, bot bool) int {
	d := g.devices
	g.devices++
	g.clicked = append(g.clicked, clicked)
	g.isBot = append(g.isBot, bot)
	return d
}

func (g *Generator) eventID() string {
	g.events++
	return fmt.Sprintf("%s-e%d", g.prefix, g.events)
}

func (g *Generator) click(dev int, ua string, bot bool) Action {
	g.clicked[dev] = true
	return Action{Kind: Click, Device: dev, Link: g.rng.IntN(len(g.links)), UserAgent: ua, Bot: bot}
}

func (g *Generator) browser() string { return BrowserAgents[g.rng.IntN(len(BrowserAgents))] }

// bot: a crawler follows one or two links; it never orders.
func (g *Generator) bot() []Action {
	dev := g.newDevice(true, true)
	ua := BotAgents[g.rng.IntN(len(BotAgents))]
	out := make([]Action, 1+g.rng.IntN(2))
	for i := range out {
		out[i] = g.click(dev, ua, true)
	}
	return out
}

// newVisitor: a new device follows a link; some buy, as guests or after
// signing up (which binds them to the partner).
func (g *Generator) newVisitor() []Action {
	dev := g.newDevice(true, false)
	out := []Action{g.click(dev, g.browser(), false)}
	link := out[0].Link
	switch r := g.rng.IntN(100); {
	case r < 30: // guest order
		out = append(out, g.placed(dev, "", link))
	case r < 60: // signs up, maybe buys now
		p := g.newPerson(dev)
		out = append(out, g.identify(dev, p))
		if g.rng.IntN(100) < 70 {
			out = append(out, g.placed(dev, p.customer, link))
		}
	}
	return out
}

// returning: a known person comes back on one of their devices through a
// link (maybe another partner's) and may log in and buy.
func (g *Generator) returning() []Action {
	p := &g.people[g.rng.IntN(len(g.people))]
	dev := p.devices[g.rng.IntN(len(p.devices))]
	out := []Action{g.click(dev, g.browser(), false)}
	if g.rng.IntN(100) < 50 {
		// Logs in (again: someone else may have used the device) and buys.
		out = append(out, g.identify(dev, *p), g.placed(dev, p.customer, out[0].Link))
	}
	return out
}

// crossDevice: a customer logs in on a new device that never saw a link and
// buys there; only the customer binding can credit the partner.
func (g *Generator) crossDevice() []Action {
	p := &g.people[g.rng.IntN(len(g.people))]
	dev := g.newDevice(false, false)
	p.devices = append(p.devices, dev)
	return []Action{g.identify(dev, *p), g.placed(dev, p.customer, -1)}
}

// sharedDevice: another person (a family member) logs in on a device that
// followed a link and buys: the device's click credits the partner.
func (g *Generator) sharedDevice() []Action {
	for range 10 {
		if dev := g.rng.IntN(g.devices); g.clicked[dev] && !g.isBot[dev] {
			p := g.newPerson(dev)
			return []Action{g.identify(dev, p), g.placed(dev, p.customer, -1)}
		}
	}
	return g.organic()
}

// organic: a visitor who never followed a link buys (attribution: none).
func (g *Generator) organic() []Action {
	dev := g.newDevice(false, false)
	if g.rng.IntN(100) < 50 {
		return []Action{g.placed(dev, "", -1)}
	}
	p := g.newPerson(dev)
	return []Action{g.identify(dev, p), g.placed(dev, p.customer, -1)}
}

func (g *Generator) newPerson(dev int) person {
	n := len(g.people) + 1
	p := person{customer: fmt.Sprintf("%s-c%d", g.prefix, n), email: fmt.Sprintf("customer%d.%s@example.com", n, g.prefix), devices: []int{dev}}
	g.people = append(g.people, p)
	return p
}

func (g *Generator) identify(dev int, p person) Action {
	return Action{Kind: Identify, Device: dev, Customer: p.customer, Email: p.email, EventID: g.eventID()}
}

// placed returns an order.placed with one to three lines (the linked
// product most of the time when link >= 0) and schedules its later events.
func (g *Generator) placed(dev int, customer string, link int) Action {
	g.orders++
	a := Action{Kind: Order, Type: events.OrderPlaced, Device: dev, Customer: customer, EventID: g.eventID(),
		OrderID: fmt.Sprintf("%s-o%d", g.prefix, g.orders), ViaKafka: g.rng.Float64() < g.kafkaShare,
		Shipping: []int64{0, 495, 695}[g.rng.IntN(3)]}
	// A phone order by a known customer carries no device.
	a.NoDevice = customer != "" && g.rng.IntN(100) < 5
	used := map[string]bool{}
	if link >= 0 && g.links[link].ProductID != "" && g.rng.IntN(100) < 70 {
		if p, ok := productByID(g.links[link].ProductID); ok {
			a.Lines = append(a.Lines, g.line(len(a.Lines), p))
			used[p.ID] = true
		}
	}
	for n := 1 + g.rng.IntN(3); len(a.Lines) < n; {
		p := Catalog[g.rng.IntN(len(Catalog))]
		if !used[p.ID] {
			a.Lines = append(a.Lines, g.line(len(a.Lines), p))
			used[p.ID] = true
		}
	}
	g.scheduleAfterPlaced(a)
	return a
}

func (g *Generator) line(i int, p Product) events.Line {
	l := events.Line{LineID: fmt.Sprintf("l%d", i+1), ProductID: p.ID, CategoryID: p.Category,
		Quantity: 1 + int64(g.rng.IntN(3)), UnitPriceMinor: p.PriceMinor}
	if g.rng.IntN(100) < 20 { // a 10 % voucher on the line
		l.DiscountMinor = l.UnitPriceMinor * l.Quantity / 10
	}
	return l
}

func productByID(id string) (Product, bool) {
	for _, p := range Catalog {
		if p.ID == id {
			return p, true
		}
	}
	return Product{}, false
}

// Steps after which an order's later events are due.
const (
	cancelAfterMin, cancelAfterMax   = 3, 20
	deliverAfterMin, deliverAfterMax = 10, 60
	refundAfterMin, refundAfterMax   = 5, 40
)

// scheduleAfterPlaced: 10 % are cancelled, 75 % delivered, the rest stay
// open.
func (g *Generator) scheduleAfterPlaced(o Action) {
	next := Action{Kind: Order, Device: o.Device, Customer: o.Customer, OrderID: o.OrderID, ViaKafka: o.ViaKafka,
		NoDevice: o.NoDevice, Lines: o.Lines}
	switch r := g.rng.IntN(100); {
	case r < 10:
		next.Type = events.OrderCancelled
		g.schedule(g.between(cancelAfterMin, cancelAfterMax), next)
	case r < 85:
		next.Type = events.OrderDelivered
		g.schedule(g.between(deliverAfterMin, deliverAfterMax), next)
	}
}

// after runs when a scheduled event is handed out: a delivered order is
// partially refunded 15 % of the time, later.
func (g *Generator) after(a Action) {
	if a.Type != events.OrderDelivered || g.rng.IntN(100) >= 15 {
		return
	}
	r := Action{Kind: Order, Type: events.OrderRefunded, Device: a.Device, Customer: a.Customer, OrderID: a.OrderID,
		ViaKafka: a.ViaKafka, NoDevice: a.NoDevice}
	l := a.Lines[g.rng.IntN(len(a.Lines))]
	if g.rng.IntN(2) == 0 {
		// One unit of one line back (a line's discount is spread over its units).
		r.Lines = []events.Line{{LineID: l.LineID, ProductID: l.ProductID, CategoryID: l.CategoryID, Quantity: 1,
			UnitPriceMinor: l.UnitPriceMinor, DiscountMinor: l.DiscountMinor / l.Quantity}}
	} else {
		// A goodwill refund of a fifth of the line, at least 1.00.
		r.Amount = max(l.BaseMinor()/5, 100)
	}
	g.schedule(g.between(refundAfterMin, refundAfterMax), r)
}

func (g *Generator) between(lo, hi int) int { return lo + g.rng.IntN(hi-lo+1) }

// schedule queues a in steps from now, keeping the queue ordered by due
// step (stable for equal steps). Event ids are given out here, in
// scheduling order, so they do not depend on when the event is sent.
func (g *Generator) schedule(in int, a Action) {
	a.EventID = g.eventID()
	f := followUp{due: g.step + in, action: a}
	i := len(g.queue)
	for i > 0 && g.queue[i-1].due > f.due {
		i--
	}
	g.queue = append(g.queue, followUp{})
	copy(g.queue[i+1:], g.queue[i:])
	g.queue[i] = f
}
