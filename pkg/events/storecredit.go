package events

import (
	"time"

	"github.com/openaff/affiliate/pkg/money"
)

// StoreCredit tells the shop to credit a customer account (topic
// "store_credits", outbound, key customer_id): an admin approved a
// partner's request to move commission into store credit.
type StoreCredit struct {
	// EventID is a UUID; the shop drops repeats.
	EventID string
	// At is when the admin approved the request, in UTC.
	At time.Time
	// RequestID is the store-credit request; the shop may also dedupe on it.
	RequestID string
	// PartnerID is the partner whose balance paid for the credit.
	PartnerID string
	// CustomerID is the shop's customer to credit.
	CustomerID string
	// Currency is the currency of AmountMinor.
	Currency money.Currency
	// AmountMinor is the credit, > 0.
	AmountMinor int64
}

// DecodeStoreCredit decodes and validates one store-credit event.
func DecodeStoreCredit(data []byte) (StoreCredit, error) {
	var s StoreCredit
	var at, currency, amount string
	strs := [...]struct {
		name string
		dst  *string
	}{
		{"event_id", &s.EventID}, {"at", &at}, {"request_id", &s.RequestID}, {"partner_id", &s.PartnerID},
		{"customer_id", &s.CustomerID}, {"currency", &currency},
	}
	r, err := decodeObject(data, func(r *reader, key []byte) error {
		for i, f := range strs {
			if string(key) == f.name {
				if err := r.mark(uint(i), f.name); err != nil {
					return err
				}
				v, err := r.str(f.name)
				*f.dst = v
				return err
			}
		}
		if string(key) == "amount" {
			if err := r.mark(20, "amount"); err != nil {
				return err
			}
			var err error
			amount, err = r.decimal("amount")
			return err
		}
		return r.skipUnknown(string(key))
	})
	if err != nil {
		return StoreCredit{}, err
	}
	if err := r.unknownErr(); err != nil {
		return StoreCredit{}, err
	}
	if err := checkUUID("event_id", s.EventID, 0); err != nil {
		return StoreCredit{}, err
	}
	if s.At, err = parseTime("at", at); err != nil {
		return StoreCredit{}, err
	}
	for _, f := range []struct{ name, v string }{
		{"request_id", s.RequestID}, {"partner_id", s.PartnerID}, {"customer_id", s.CustomerID},
	} {
		if err := checkID(f.name, f.v, true); err != nil {
			return StoreCredit{}, err
		}
	}
	if s.Currency, err = parseCurrency("currency", currency); err != nil {
		return StoreCredit{}, err
	}
	if amount == "" {
		return StoreCredit{}, missing("amount")
	}
	if s.AmountMinor, err = parseAmount("amount", s.Currency, amount, false); err != nil {
		return StoreCredit{}, err
	}
	if s.AmountMinor == 0 {
		return StoreCredit{}, fieldErr("amount", "must be positive")
	}
	return s, nil
}

// AppendStoreCredit appends s as JSON without validating it.
func AppendStoreCredit(dst []byte, s *StoreCredit) []byte {
	dst = append(dst, `{"v":1,"event_id":`...)
	dst = appendString(dst, s.EventID)
	dst = append(dst, `,"at":`...)
	dst = appendTime(dst, s.At)
	dst = append(dst, `,"request_id":`...)
	dst = appendString(dst, s.RequestID)
	dst = append(dst, `,"partner_id":`...)
	dst = appendString(dst, s.PartnerID)
	dst = append(dst, `,"customer_id":`...)
	dst = appendString(dst, s.CustomerID)
	dst = append(dst, `,"currency":`...)
	dst = appendString(dst, s.Currency.Code())
	dst = append(dst, `,"amount":`...)
	dst = appendAmount(dst, s.Currency, s.AmountMinor)
	return append(dst, '}')
}

// MarshalJSON encodes s, refusing an event DecodeStoreCredit would reject.
func (s StoreCredit) MarshalJSON() ([]byte, error) {
	b := AppendStoreCredit(nil, &s)
	if _, err := DecodeStoreCredit(b); err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON decodes strictly with DecodeStoreCredit.
func (s *StoreCredit) UnmarshalJSON(b []byte) error {
	v, err := DecodeStoreCredit(b)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
