package events

import (
	"time"

	"github.com/openaff/affiliate/pkg/money"
)

// CommissionState is the state of a commission in a commission fact.
type CommissionState string

// The commission states (DESIGN §4.4). A partial void or clawback (a partial
// refund) keeps the commission's state and publishes the reduced amount;
// the partially_* states say that part of it was taken back.
const (
	StatePending             CommissionState = "pending"
	StateApproved            CommissionState = "approved"
	StateVoided              CommissionState = "voided"
	StateClawedBack          CommissionState = "clawed_back"
	StatePartiallyVoided     CommissionState = "partially_voided"
	StatePartiallyClawedBack CommissionState = "partially_clawed_back"
)

func (s CommissionState) valid() bool {
	switch s {
	case StatePending, StateApproved, StateVoided, StateClawedBack, StatePartiallyVoided, StatePartiallyClawedBack:
		return true
	}
	return false
}

// Commission is a commission fact, published by the settler for the sink
// (ClickHouse commission facts): the state of one line's commission after a
// change. Consumers keep the latest by At per CommissionID.
type Commission struct {
	// EventID is a UUID (any version: the settler may derive it
	// deterministically so that a re-run publishes the same id).
	EventID string
	// At is when the change happened, in UTC.
	At time.Time
	// CommissionID, OrderID, LineID and PartnerID identify the commission.
	CommissionID, OrderID, LineID, PartnerID string
	// Currency is the currency of AmountMinor and BaseMinor.
	Currency money.Currency
	// AmountMinor is the commission amount; it may be negative (a
	// correction).
	AmountMinor int64
	// State is the commission's state.
	State CommissionState
	// BaseMinor is the commissionable base of the line, >= 0.
	BaseMinor int64
}

// DecodeCommission decodes and validates one commission fact.
func DecodeCommission(data []byte) (Commission, error) {
	var c Commission
	var at, currency, amount, state, base string
	strs := [...]struct {
		name string
		dst  *string
	}{
		{"event_id", &c.EventID}, {"at", &at}, {"commission_id", &c.CommissionID}, {"order_id", &c.OrderID},
		{"line_id", &c.LineID}, {"partner_id", &c.PartnerID}, {"currency", &currency}, {"state", &state},
	}
	r, err := decodeObject(data, func(r *reader, key []byte) error {
		for i, s := range strs {
			if string(key) == s.name {
				if err := r.mark(uint(i), s.name); err != nil {
					return err
				}
				v, err := r.str(s.name)
				*s.dst = v
				return err
			}
		}
		var err error
		switch string(key) {
		case "amount":
			if err = r.mark(20, "amount"); err == nil {
				amount, err = r.decimal("amount")
			}
		case "base":
			if err = r.mark(21, "base"); err == nil {
				base, err = r.decimal("base")
			}
		default:
			err = r.skipUnknown(string(key))
		}
		return err
	})
	if err != nil {
		return Commission{}, err
	}
	if err := r.unknownErr(); err != nil {
		return Commission{}, err
	}
	if err := checkUUID("event_id", c.EventID, 0); err != nil {
		return Commission{}, err
	}
	if c.At, err = parseTime("at", at); err != nil {
		return Commission{}, err
	}
	for _, f := range []struct{ name, v string }{
		{"commission_id", c.CommissionID}, {"order_id", c.OrderID}, {"line_id", c.LineID}, {"partner_id", c.PartnerID},
	} {
		if err := checkID(f.name, f.v, true); err != nil {
			return Commission{}, err
		}
	}
	if c.Currency, err = parseCurrency("currency", currency); err != nil {
		return Commission{}, err
	}
	if amount == "" {
		return Commission{}, missing("amount")
	}
	if c.AmountMinor, err = parseAmount("amount", c.Currency, amount, true); err != nil {
		return Commission{}, err
	}
	c.State = CommissionState(state)
	if state == "" {
		return Commission{}, missing("state")
	}
	if !c.State.valid() {
		return Commission{}, fieldErr("state", "unknown commission state")
	}
	if base == "" {
		return Commission{}, missing("base")
	}
	if c.BaseMinor, err = parseAmount("base", c.Currency, base, false); err != nil {
		return Commission{}, err
	}
	return c, nil
}

// AppendCommission appends c as JSON without validating it.
func AppendCommission(dst []byte, c *Commission) []byte {
	dst = append(dst, `{"v":1,"event_id":`...)
	dst = appendString(dst, c.EventID)
	dst = append(dst, `,"at":`...)
	dst = appendTime(dst, c.At)
	dst = append(dst, `,"commission_id":`...)
	dst = appendString(dst, c.CommissionID)
	dst = append(dst, `,"order_id":`...)
	dst = appendString(dst, c.OrderID)
	dst = append(dst, `,"line_id":`...)
	dst = appendString(dst, c.LineID)
	dst = append(dst, `,"partner_id":`...)
	dst = appendString(dst, c.PartnerID)
	dst = append(dst, `,"currency":`...)
	dst = appendString(dst, c.Currency.Code())
	dst = append(dst, `,"amount":`...)
	dst = appendAmount(dst, c.Currency, c.AmountMinor)
	dst = append(dst, `,"state":`...)
	dst = appendString(dst, string(c.State))
	dst = append(dst, `,"base":`...)
	dst = appendAmount(dst, c.Currency, c.BaseMinor)
	return append(dst, '}')
}

// MarshalJSON encodes c, refusing a fact DecodeCommission would reject.
func (c Commission) MarshalJSON() ([]byte, error) {
	b := AppendCommission(nil, &c)
	if _, err := DecodeCommission(b); err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON decodes strictly with DecodeCommission.
func (c *Commission) UnmarshalJSON(b []byte) error {
	v, err := DecodeCommission(b)
	if err != nil {
		return err
	}
	*c = v
	return nil
}
