package events

import (
	"strconv"
	"time"

	"github.com/openaff/affiliate/pkg/money"
)

// Bounds on orders.
const (
	// MaxLines bounds the lines of one order event.
	MaxLines = 1000
	// MaxQuantity bounds the quantity of one line.
	MaxQuantity = 1_000_000
	// MaxAmountMinor bounds, in minor units, every amount of an order
	// event, each line's unit_price × quantity (so its base) and the sum of
	// its lines' bases. It is ledger.MaxAmountMinor (2^49, about 5.6e12
	// EUR; TestMaxAmountIsTheLedgers), the largest amount the ledger posts:
	// an order whose commission the ledger refused would fail every
	// settlement pass, for every partner, so it is refused here, where the
	// shop hears of it. Not imported: decoding needs no ledger (nor its
	// Postgres driver).
	MaxAmountMinor = int64(1) << 49
)

// OrderType is the kind of an order event.
type OrderType string

// The order event types.
const (
	// OrderPlaced: a new order; lines required.
	OrderPlaced OrderType = "order.placed"
	// OrderCancelled: the whole order is cancelled; no lines (the settler
	// reverses every line of order.placed; a partial cancellation is an
	// order.refunded with lines).
	OrderCancelled OrderType = "order.cancelled"
	// OrderRefunded: a refund, either of line quantities (Lines, each with
	// the quantity refunded) or of an amount (AmountMinor), never both.
	OrderRefunded OrderType = "order.refunded"
	// OrderDelivered: the order was delivered; lines optional.
	OrderDelivered OrderType = "order.delivered"
)

func (t OrderType) valid() bool {
	switch t {
	case OrderPlaced, OrderCancelled, OrderRefunded, OrderDelivered:
		return true
	}
	return false
}

// Order is an order event from the shop (topic "orders", key order_id), sent
// to /v1/orders or produced straight into Kafka.
type Order struct {
	// EventID is the shop's id for this event (opaque, 1..MaxIDLen bytes).
	EventID string
	// Type is one of the OrderType constants.
	Type OrderType
	// OrderID is the shop's order id.
	OrderID string
	// At is when it happened, in UTC.
	At time.Time
	// CustomerID is the ordering customer, optional.
	CustomerID string
	// DeviceToken is the aff_dt cookie of the ordering device, optional.
	DeviceToken string
	// Currency is the currency of every amount in the event.
	Currency money.Currency
	// Lines are the order lines (for order.refunded: the refunded
	// quantities). At most MaxLines, line ids unique.
	Lines []Line
	// ShippingFeeMinor is the shipping fee (never commissionable), 0 when
	// absent.
	ShippingFeeMinor int64
	// AmountMinor is, for order.refunded without lines, the refunded
	// amount (> 0); 0 otherwise.
	AmountMinor int64
}

// Line is one order line.
type Line struct {
	// LineID is unique within the order; refunds refer to it.
	LineID string
	// ProductID is the shop's product id.
	ProductID string
	// CategoryID is the product's category, optional.
	CategoryID string
	// Quantity is 1..MaxQuantity.
	Quantity int64
	// UnitPriceMinor is the price of one unit, >= 0.
	UnitPriceMinor int64
	// DiscountMinor is the discount on the whole line (not per unit), >= 0
	// and at most UnitPriceMinor × Quantity; 0 when absent.
	DiscountMinor int64
}

// BaseMinor is the commissionable base of the line: unit price × quantity −
// discount. The decoder has checked that it neither overflows nor is
// negative.
func (l Line) BaseMinor() int64 {
	return l.UnitPriceMinor*l.Quantity - l.DiscountMinor
}

// lineWire is a line as read, before validation.
type lineWire struct {
	line                Line
	hasQty              bool
	unitPrice, discount string
}

// DecodeOrder decodes and validates one order event as stored or in Kafka:
// it reads "" in an optional field as absent and drops lines sent on an
// order.cancelled (which cancels the whole order), as the releases before
// accepted them, so that events already in a topic or waiting in Postgres
// stay readable. What a shop submits now goes through DecodeOrderStrict.
func DecodeOrder(data []byte) (Order, error) { return decodeOrder(data, false) }

// DecodeOrderStrict is DecodeOrder for an event a shop submits (the
// tracker's /v1/orders, and the JSON schema): it refuses "" in an optional
// field (neither a value nor absent) and lines on an order.cancelled (a
// shop meaning to cancel part of an order would have had all of it
// reversed; a partial cancellation is an order.refunded with lines).
func DecodeOrderStrict(data []byte) (Order, error) { return decodeOrder(data, true) }

func decodeOrder(data []byte, strict bool) (Order, error) {
	var o Order
	var typ, at, currency, shipping, amount string
	var lines []lineWire
	hasLines := false
	r, err := decodeObject(data, func(r *reader, key []byte) error {
		var err error
		switch string(key) {
		case "event_id":
			if err = r.mark(0, "event_id"); err == nil {
				o.EventID, err = r.str("event_id")
			}
		case "type":
			if err = r.mark(1, "type"); err == nil {
				typ, err = r.str("type")
			}
		case "order_id":
			if err = r.mark(2, "order_id"); err == nil {
				o.OrderID, err = r.str("order_id")
			}
		case "at":
			if err = r.mark(3, "at"); err == nil {
				at, err = r.str("at")
			}
		case "customer_id":
			if err = r.mark(4, "customer_id"); err == nil {
				o.CustomerID, err = r.optStr(strict, "customer_id")
			}
		case "device_token":
			if err = r.mark(5, "device_token"); err == nil {
				o.DeviceToken, err = r.optStr(strict, "device_token")
			}
		case "currency":
			if err = r.mark(6, "currency"); err == nil {
				currency, err = r.str("currency")
			}
		case "lines":
			if err = r.mark(7, "lines"); err == nil && !r.l.null() {
				hasLines = true
				lines, err = readLines(r, strict)
			}
		case "shipping_fee":
			if err = r.mark(8, "shipping_fee"); err == nil {
				shipping, err = r.optDecimal(strict, "shipping_fee")
			}
		case "amount":
			if err = r.mark(9, "amount"); err == nil {
				amount, err = r.optDecimal(strict, "amount")
			}
		default:
			err = r.skipUnknown(string(key))
		}
		return err
	})
	if err != nil {
		return Order{}, err
	}
	o.Type = OrderType(typ)
	if typ == "" {
		return Order{}, missing("type")
	}
	if !o.Type.valid() {
		return Order{}, fieldErr("type", "unknown order type (want order.placed, order.cancelled, order.refunded or order.delivered)")
	}
	if err := r.unknownErr(); err != nil {
		return Order{}, err
	}
	if err := o.validateHead(strict, at, currency, shipping, amount); err != nil {
		return Order{}, err
	}
	if o.Lines, err = validateLines(strict, lines, o.Currency); err != nil {
		return Order{}, err
	}
	if err := o.validateType(hasLines, strict); err != nil {
		return Order{}, err
	}
	return o, nil
}

func readLines(r *reader, strict bool) ([]lineWire, error) {
	var lines []lineWire
	err := r.l.array(func(i int) error {
		if i >= MaxLines {
			return fieldErr("lines", "more than "+strconv.Itoa(MaxLines)+" lines")
		}
		lines = append(lines, lineWire{})
		lw := &lines[i]
		var seen uint8
		mark := func(bit uint8, name string) error {
			if seen&(1<<bit) != 0 {
				return fieldErr(lineField(i, name), "duplicate field")
			}
			seen |= 1 << bit
			return nil
		}
		err := r.l.object(func(key []byte) error {
			var err error
			switch string(key) {
			case "line_id":
				if err = mark(0, "line_id"); err == nil {
					lw.line.LineID, err = r.str(lineField(i, "line_id"))
				}
			case "product_id":
				if err = mark(1, "product_id"); err == nil {
					lw.line.ProductID, err = r.str(lineField(i, "product_id"))
				}
			case "category_id":
				if err = mark(2, "category_id"); err == nil {
					lw.line.CategoryID, err = r.optStr(strict, lineField(i, "category_id"))
				}
			case "quantity":
				if err = mark(3, "quantity"); err == nil {
					lw.line.Quantity, lw.hasQty, err = r.integer(lineField(i, "quantity"))
				}
			case "unit_price":
				if err = mark(4, "unit_price"); err == nil {
					lw.unitPrice, err = r.decimal(lineField(i, "unit_price"))
				}
			case "discount":
				if err = mark(5, "discount"); err == nil {
					lw.discount, err = r.optDecimal(strict, lineField(i, "discount"))
				}
			default:
				err = r.skipUnknown(lineField(i, string(key)))
			}
			return err
		})
		return r.wrap(err, "lines["+strconv.Itoa(i)+"]")
	})
	return lines, r.wrap(err, "lines")
}

func (o *Order) validateHead(strict bool, at, currency, shipping, amount string) error {
	var err error
	if err = checkIDAs(strict, "event_id", o.EventID, true); err != nil {
		return err
	}
	if err = checkIDAs(strict, "order_id", o.OrderID, true); err != nil {
		return err
	}
	if o.At, err = parseTimeAs(strict, "at", at); err != nil {
		return err
	}
	if err = checkIDAs(strict, "customer_id", o.CustomerID, false); err != nil {
		return err
	}
	if err = checkToken("device_token", o.DeviceToken, false); err != nil {
		return err
	}
	if o.Currency, err = parseCurrency("currency", currency); err != nil {
		return err
	}
	if shipping != "" {
		if o.ShippingFeeMinor, err = parseOrderAmount("shipping_fee", o.Currency, shipping); err != nil {
			return err
		}
	}
	if amount != "" {
		if o.AmountMinor, err = parseOrderAmount("amount", o.Currency, amount); err != nil {
			return err
		}
		if o.AmountMinor == 0 {
			return fieldErr("amount", "must be positive")
		}
	}
	return nil
}

// parseOrderAmount parses a non-negative amount of at most MaxAmountMinor.
func parseOrderAmount(field string, cur money.Currency, s string) (int64, error) {
	v, err := parseAmount(field, cur, s, false)
	if err == nil && v > MaxAmountMinor {
		return 0, tooLarge(field, cur, "")
	}
	return v, err
}

// tooLarge is the error for an amount above MaxAmountMinor; what names
// the amount when it is not the field itself.
func tooLarge(field string, cur money.Currency, what string) error {
	if what != "" {
		what += " "
	}
	return fieldErr(field, what+"above the largest amount accepted ("+money.Format(cur, MaxAmountMinor)+" "+cur.Code()+")")
}

func validateLines(strict bool, lines []lineWire, cur money.Currency) ([]Line, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	out := make([]Line, len(lines))
	ids := make(map[string]int, len(lines))
	var sum int64
	for i := range lines {
		lw := &lines[i]
		l := lw.line
		if err := checkIDAs(strict, lineField(i, "line_id"), l.LineID, true); err != nil {
			return nil, err
		}
		if j, dup := ids[l.LineID]; dup {
			return nil, fieldErr(lineField(i, "line_id"), "duplicate line_id (also lines["+strconv.Itoa(j)+"])")
		}
		ids[l.LineID] = i
		if err := checkIDAs(strict, lineField(i, "product_id"), l.ProductID, true); err != nil {
			return nil, err
		}
		if err := checkIDAs(strict, lineField(i, "category_id"), l.CategoryID, false); err != nil {
			return nil, err
		}
		switch {
		case !lw.hasQty:
			return nil, missing(lineField(i, "quantity"))
		case l.Quantity <= 0:
			return nil, fieldErr(lineField(i, "quantity"), "must be positive")
		case l.Quantity > MaxQuantity:
			return nil, fieldErr(lineField(i, "quantity"), "larger than "+strconv.Itoa(MaxQuantity))
		}
		if lw.unitPrice == "" {
			return nil, missing(lineField(i, "unit_price"))
		}
		var err error
		if l.UnitPriceMinor, err = parseOrderAmount(lineField(i, "unit_price"), cur, lw.unitPrice); err != nil {
			return nil, err
		}
		if lw.discount != "" {
			if l.DiscountMinor, err = parseOrderAmount(lineField(i, "discount"), cur, lw.discount); err != nil {
				return nil, err
			}
		}
		// MulQty reports an overflow: 2^49 × 10^6 does not fit an int64.
		total, err := money.MulQty(l.UnitPriceMinor, l.Quantity)
		if err != nil || total > MaxAmountMinor {
			return nil, tooLarge(lineField(i, "quantity"), cur, "unit_price × quantity")
		}
		if l.DiscountMinor > total {
			return nil, fieldErr(lineField(i, "discount"), "exceeds unit_price × quantity")
		}
		// No overflow: at most MaxLines bases of at most 2^49 each.
		sum += l.BaseMinor()
		out[i] = l
	}
	if sum > MaxAmountMinor {
		return nil, tooLarge("lines", cur, "the lines' total (unit_price × quantity − discount, summed)")
	}
	return out, nil
}

func (o *Order) validateType(hasLines, strict bool) error {
	switch o.Type {
	case OrderPlaced:
		if len(o.Lines) == 0 {
			return fieldErr("lines", "order.placed needs at least one line")
		}
	case OrderCancelled:
		// The releases before accepted lines here and cancelled the whole
		// order anyway: a shop meaning to cancel part of an order had every
		// commission of it reversed. Refused when submitted now; dropped
		// when read from a topic or Postgres.
		if hasLines && strict {
			return fieldErr("lines", "order.cancelled cancels the whole order; send order.refunded with lines to refund part of it")
		}
		o.Lines = nil
	case OrderRefunded:
		if len(o.Lines) == 0 && o.AmountMinor == 0 {
			if hasLines {
				return fieldErr("lines", "order.refunded needs at least one line, or an amount instead of lines")
			}
			return fieldErr("lines", "order.refunded needs lines (the quantities refunded) or an amount")
		}
		if len(o.Lines) > 0 && o.AmountMinor != 0 {
			return fieldErr("amount", "order.refunded takes lines or an amount, not both")
		}
		return nil
	}
	if o.AmountMinor != 0 {
		return fieldErr("amount", "only order.refunded carries an amount")
	}
	return nil
}

// AppendOrder appends o as JSON without validating it.
func AppendOrder(dst []byte, o *Order) []byte {
	dst = append(dst, `{"v":1,"event_id":`...)
	dst = appendString(dst, o.EventID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(o.Type))
	dst = append(dst, `,"order_id":`...)
	dst = appendString(dst, o.OrderID)
	dst = append(dst, `,"at":`...)
	dst = appendTime(dst, o.At)
	dst = optString(dst, `,"customer_id":`, o.CustomerID)
	dst = optString(dst, `,"device_token":`, o.DeviceToken)
	dst = append(dst, `,"currency":`...)
	dst = appendString(dst, o.Currency.Code())
	if len(o.Lines) > 0 {
		dst = append(dst, `,"lines":[`...)
		for i := range o.Lines {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendLine(dst, o.Currency, &o.Lines[i])
		}
		dst = append(dst, ']')
	}
	if o.ShippingFeeMinor != 0 {
		dst = append(dst, `,"shipping_fee":`...)
		dst = appendAmount(dst, o.Currency, o.ShippingFeeMinor)
	}
	if o.AmountMinor != 0 {
		dst = append(dst, `,"amount":`...)
		dst = appendAmount(dst, o.Currency, o.AmountMinor)
	}
	return append(dst, '}')
}

func appendLine(dst []byte, cur money.Currency, l *Line) []byte {
	dst = append(dst, `{"line_id":`...)
	dst = appendString(dst, l.LineID)
	dst = append(dst, `,"product_id":`...)
	dst = appendString(dst, l.ProductID)
	dst = optString(dst, `,"category_id":`, l.CategoryID)
	dst = append(dst, `,"quantity":`...)
	dst = appendInt(dst, l.Quantity)
	dst = append(dst, `,"unit_price":`...)
	dst = appendAmount(dst, cur, l.UnitPriceMinor)
	if l.DiscountMinor != 0 {
		dst = append(dst, `,"discount":`...)
		dst = appendAmount(dst, cur, l.DiscountMinor)
	}
	return append(dst, '}')
}

// MarshalJSON encodes o, refusing an event DecodeOrder would reject.
func (o Order) MarshalJSON() ([]byte, error) {
	b := AppendOrder(nil, &o)
	if _, err := DecodeOrder(b); err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON decodes strictly with DecodeOrder.
func (o *Order) UnmarshalJSON(b []byte) error {
	v, err := DecodeOrder(b)
	if err != nil {
		return err
	}
	*o = v
	return nil
}
