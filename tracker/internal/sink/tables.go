package sink

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/openaff/affiliate/pkg/events"
)

// table is the columnar buffer of one ClickHouse table: decoded rows wait
// here until the batch is flushed, then go out in one native-protocol block.
type table interface {
	// name is the ClickHouse table.
	name() string
	// insert is the INSERT statement naming every column it sends.
	insert() string
	// rows is the number of buffered rows.
	rows() int
	// columns returns the buffered columns, in insert() order.
	columns() []buffer
	// times returns each buffered row's event time (the at column, which
	// every table is partitioned by month of). The caller must not modify it.
	times() []time.Time
}

// topicHandler decodes a message of one topic into its tables.
type topicHandler interface {
	// add decodes value, buffers its rows and returns the event time, or
	// an error naming what is wrong (the message then goes to the DLQ).
	add(value []byte) (time.Time, error)
	tables() []table
}

// buffer is one buffered column of a table: a slice of one of the types
// the ClickHouse columns take, reached through a pointer so that it can be
// grown and emptied in place.
type buffer interface {
	// rows returns rows [lo, hi) as the slice clickhouse-go appends.
	rows(lo, hi int) any
	// reset empties the column, keeping its capacity.
	reset()
	// absorb appends every row of src, a column of the same type.
	absorb(src buffer)
	// permute reorders the rows so that row i becomes the one at order[i]
	// (order is a permutation of the rows).
	permute(order []int)
}

// col is the column of the slice at p.
type col[T any] struct{ p *[]T }

func (c col[T]) rows(lo, hi int) any { return (*c.p)[lo:hi] }

// reset zeroes the rows first: a string left in the spare capacity would
// keep its Kafka message alive until overwritten.
func (c col[T]) reset() {
	clear(*c.p)
	*c.p = (*c.p)[:0]
}

func (c col[T]) absorb(src buffer) { *c.p = append(*c.p, *src.(col[T]).p...) }

// permute allocates a copy of the column: it runs only for a batch whose
// rows span more months than one INSERT may (monthChunks), never per batch.
func (c col[T]) permute(order []int) {
	rows := *c.p
	if len(order) != len(rows) {
		panic("BUG: permutation of another length than the column")
	}
	out := make([]T, len(rows))
	for i, j := range order {
		out[i] = rows[j]
	}
	copy(rows, out)
}

// ref is the column of the slice at p.
func ref[T any](p *[]T) buffer { return col[T]{p} }

// appendColumns hands rows [lo, hi) of every column to batch.
func appendColumns(batch driver.Batch, cols []buffer, lo, hi int) error {
	chCols := batch.Columns()
	for i, c := range cols {
		part := c.rows(lo, hi)
		if rows, ok := part.([]string); ok && i < len(chCols) {
			reserveStrings(chCols[i], rows)
		}
		if err := batch.Column(i).Append(part); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

// reset empties t, keeping its capacity.
func reset(t table) {
	for _, c := range t.columns() {
		c.reset()
	}
}

// absorb appends every row of src to dst, a table of the same type.
func absorb(dst, src table) {
	s := src.columns()
	for i, c := range dst.columns() {
		c.absorb(s[i])
	}
}

// colStrField is clickhouse-go's String column's unexported ch-go buffer,
// found by name and type once; nil if a clickhouse-go release renames or
// retypes it (reserveStrings then does nothing).
var colStrField = func() *reflect.StructField {
	f, ok := reflect.TypeFor[column.String]().FieldByName("col")
	if !ok || f.Type != reflect.TypeFor[proto.ColStr]() {
		return nil
	}
	return &f
}()

// reserveStrings sizes a String column for rows before they are appended.
// clickhouse-go appends them one by one into an empty ch-go buffer, which
// Go grows by 1.25x at a time at this size: about five times the bytes of
// the column allocated and copied per INSERT, the largest cost of the sink
// after decoding (2.5 KB per click measured). clickhouse-go has no way to
// size a column, hence the reach into its field (guarded by colStrField and
// by TestReserveStrings).
func reserveStrings(c column.Interface, rows []string) {
	sc, ok := c.(*column.String)
	if !ok || colStrField == nil {
		return
	}
	n := 0
	for _, r := range rows {
		n += len(r)
	}
	cs := colStr(sc)
	cs.Buf = slices.Grow(cs.Buf, n)
	cs.Pos = slices.Grow(cs.Pos, len(rows))
}

// colStr is the ch-go buffer of c; colStrField must be set.
func colStr(c *column.String) *proto.ColStr {
	return (*proto.ColStr)(unsafe.Add(unsafe.Pointer(c), colStrField.Offset))
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// clickTable buffers the clicks table.
type clickTable struct {
	clickID, device, partner, link, kind, target, product, category, referer, ua, ip []string
	at                                                                               []time.Time
	bot                                                                              []uint8
}

func (t *clickTable) name() string { return "clicks" }
func (t *clickTable) insert() string {
	return "INSERT INTO clicks (click_id, at, device_token, partner_id, link_id, link_kind, target, product_id, category_id, referer, user_agent, ip, bot)"
}
func (t *clickTable) rows() int          { return len(t.clickID) }
func (t *clickTable) times() []time.Time { return t.at }
func (t *clickTable) columns() []buffer {
	return []buffer{ref(&t.clickID), ref(&t.at), ref(&t.device), ref(&t.partner), ref(&t.link), ref(&t.kind), ref(&t.target), ref(&t.product), ref(&t.category), ref(&t.referer), ref(&t.ua), ref(&t.ip), ref(&t.bot)}
}

func (t *clickTable) add(value []byte) (time.Time, error) {
	// kafka-go allocates every message's value and never reuses it, and
	// the sink never writes to it: the buffered strings may alias it.
	c, err := events.DecodeClickOwned(value)
	if err != nil {
		return time.Time{}, err
	}
	ip := ""
	if c.IP.IsValid() {
		ip = c.IP.String()
	}
	t.clickID = append(t.clickID, c.ClickID)
	t.at = append(t.at, c.At)
	t.device = append(t.device, c.DeviceToken)
	t.partner = append(t.partner, c.PartnerID)
	t.link = append(t.link, c.LinkID)
	t.kind = append(t.kind, string(c.Kind))
	t.target = append(t.target, c.Target)
	t.product = append(t.product, c.ProductID)
	t.category = append(t.category, c.CategoryID)
	t.referer = append(t.referer, c.Referer)
	t.ua = append(t.ua, c.UserAgent)
	t.ip = append(t.ip, ip)
	t.bot = append(t.bot, b2u(c.Bot))
	return c.At, nil
}

func (t *clickTable) tables() []table { return []table{t} }

// identityTable buffers the identities table. The email is not copied to
// ClickHouse (analysts need no personal data); has_email says it was given.
type identityTable struct {
	eventID, device, customer []string
	at                        []time.Time
	hasEmail                  []uint8
}

func (t *identityTable) name() string { return "identities" }
func (t *identityTable) insert() string {
	return "INSERT INTO identities (event_id, at, device_token, customer_id, has_email)"
}
func (t *identityTable) rows() int          { return len(t.eventID) }
func (t *identityTable) times() []time.Time { return t.at }
func (t *identityTable) columns() []buffer {
	return []buffer{ref(&t.eventID), ref(&t.at), ref(&t.device), ref(&t.customer), ref(&t.hasEmail)}
}

func (t *identityTable) add(value []byte) (time.Time, error) {
	e, err := events.DecodeIdentity(value)
	if err != nil {
		return time.Time{}, err
	}
	t.eventID = append(t.eventID, e.EventID)
	t.at = append(t.at, e.At)
	t.device = append(t.device, e.DeviceToken)
	t.customer = append(t.customer, e.CustomerID)
	t.hasEmail = append(t.hasEmail, b2u(e.Email != ""))
	return e.At, nil
}

func (t *identityTable) tables() []table { return []table{t} }

// orderEventTable buffers order_events (one row per event).
type orderEventTable struct {
	eventID, typ, orderID, customer, device, currency []string
	at                                                []time.Time
	lines                                             []uint32
	amount, shipping                                  []int64
}

func (t *orderEventTable) name() string { return "order_events" }
func (t *orderEventTable) insert() string {
	return "INSERT INTO order_events (event_id, type, order_id, at, customer_id, device_token, currency, lines, amount_minor, shipping_fee_minor)"
}
func (t *orderEventTable) rows() int          { return len(t.eventID) }
func (t *orderEventTable) times() []time.Time { return t.at }
func (t *orderEventTable) columns() []buffer {
	return []buffer{ref(&t.eventID), ref(&t.typ), ref(&t.orderID), ref(&t.at), ref(&t.customer), ref(&t.device), ref(&t.currency), ref(&t.lines), ref(&t.amount), ref(&t.shipping)}
}

// orderLineTable buffers order_lines (one row per line of an event).
type orderLineTable struct {
	eventID, typ, orderID, lineID, product, category, currency []string
	at                                                         []time.Time
	qty, unitPrice, discount, amount                           []int64
}

func (t *orderLineTable) name() string { return "order_lines" }
func (t *orderLineTable) insert() string {
	return "INSERT INTO order_lines (event_id, type, order_id, at, line_id, product_id, category_id, quantity, unit_price_minor, discount_minor, amount_minor, currency)"
}
func (t *orderLineTable) rows() int          { return len(t.eventID) }
func (t *orderLineTable) times() []time.Time { return t.at }
func (t *orderLineTable) columns() []buffer {
	return []buffer{ref(&t.eventID), ref(&t.typ), ref(&t.orderID), ref(&t.at), ref(&t.lineID), ref(&t.product), ref(&t.category), ref(&t.qty), ref(&t.unitPrice), ref(&t.discount), ref(&t.amount), ref(&t.currency)}
}

// orderHandler fills order_events and order_lines from one order event.
type orderHandler struct {
	events orderEventTable
	lines  orderLineTable
}

func (h *orderHandler) add(value []byte) (time.Time, error) {
	o, err := events.DecodeOrder(value)
	if err != nil {
		return time.Time{}, err
	}
	cur := o.Currency.Code()
	total := o.AmountMinor
	for _, l := range o.Lines {
		base := l.BaseMinor()
		total += base
		t := &h.lines
		t.eventID = append(t.eventID, o.EventID)
		t.typ = append(t.typ, string(o.Type))
		t.orderID = append(t.orderID, o.OrderID)
		t.at = append(t.at, o.At)
		t.lineID = append(t.lineID, l.LineID)
		t.product = append(t.product, l.ProductID)
		t.category = append(t.category, l.CategoryID)
		t.qty = append(t.qty, l.Quantity)
		t.unitPrice = append(t.unitPrice, l.UnitPriceMinor)
		t.discount = append(t.discount, l.DiscountMinor)
		t.amount = append(t.amount, base)
		t.currency = append(t.currency, cur)
	}
	t := &h.events
	t.eventID = append(t.eventID, o.EventID)
	t.typ = append(t.typ, string(o.Type))
	t.orderID = append(t.orderID, o.OrderID)
	t.at = append(t.at, o.At)
	t.customer = append(t.customer, o.CustomerID)
	t.device = append(t.device, o.DeviceToken)
	t.currency = append(t.currency, cur)
	t.lines = append(t.lines, uint32(len(o.Lines)))
	t.amount = append(t.amount, total)
	t.shipping = append(t.shipping, o.ShippingFeeMinor)
	return o.At, nil
}

// tables lists order_events before order_lines: the lines of an event are
// never visible without their event row once both are flushed.
func (h *orderHandler) tables() []table { return []table{&h.events, &h.lines} }

// commissionTable buffers commission_facts.
type commissionTable struct {
	eventID, commission, orderID, lineID, partner, currency, state []string
	at                                                             []time.Time
	amount, base                                                   []int64
}

func (t *commissionTable) name() string { return "commission_facts" }
func (t *commissionTable) insert() string {
	return "INSERT INTO commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)"
}
func (t *commissionTable) rows() int          { return len(t.eventID) }
func (t *commissionTable) times() []time.Time { return t.at }
func (t *commissionTable) columns() []buffer {
	return []buffer{ref(&t.eventID), ref(&t.at), ref(&t.commission), ref(&t.orderID), ref(&t.lineID), ref(&t.partner), ref(&t.currency), ref(&t.amount), ref(&t.base), ref(&t.state)}
}

func (t *commissionTable) add(value []byte) (time.Time, error) {
	c, err := events.DecodeCommission(value)
	if err != nil {
		return time.Time{}, err
	}
	t.eventID = append(t.eventID, c.EventID)
	t.at = append(t.at, c.At)
	t.commission = append(t.commission, c.CommissionID)
	t.orderID = append(t.orderID, c.OrderID)
	t.lineID = append(t.lineID, c.LineID)
	t.partner = append(t.partner, c.PartnerID)
	t.currency = append(t.currency, c.Currency.Code())
	t.amount = append(t.amount, c.AmountMinor)
	t.base = append(t.base, c.BaseMinor)
	t.state = append(t.state, string(c.State))
	return c.At, nil
}

func (t *commissionTable) tables() []table { return []table{t} }

// insertRows sends rows [lo, hi) of t in one INSERT.
func insertRows(ctx context.Context, conn driver.Conn, t table, lo, hi int) error {
	batch, err := conn.PrepareBatch(ctx, t.insert())
	if err != nil {
		return fmt.Errorf("cannot prepare insert into %s: %w", t.name(), err)
	}
	if err := appendColumns(batch, t.columns(), lo, hi); err != nil {
		batch.Abort()
		return fmt.Errorf("cannot append to %s: %w", t.name(), err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("cannot insert %d rows into %s: %w", hi-lo, t.name(), err)
	}
	return nil
}
