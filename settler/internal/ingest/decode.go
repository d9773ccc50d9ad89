package ingest

import "github.com/openaff/affiliate/pkg/events"

// EventsDecoder decodes with pkg/events' strict decoders.
func EventsDecoder() Decoder {
	return Decoder{Order: decodeOrder, Identity: decodeIdentity}
}

func decodeOrder(body []byte) (OrderEvent, error) {
	o, err := events.DecodeOrder(body)
	if err != nil {
		return OrderEvent{}, err
	}
	ev := OrderEvent{
		EventID: o.EventID, Type: string(o.Type), OrderID: o.OrderID, At: o.At,
		CustomerID: o.CustomerID, DeviceToken: o.DeviceToken, Currency: o.Currency.Code(),
		ShippingFeeMinor: o.ShippingFeeMinor, AmountMinor: o.AmountMinor,
		Lines: make([]OrderLine, len(o.Lines)),
	}
	for i, l := range o.Lines {
		ev.Lines[i] = OrderLine{
			LineID: l.LineID, ProductID: l.ProductID, CategoryID: l.CategoryID,
			Quantity: l.Quantity, UnitPriceMinor: l.UnitPriceMinor, DiscountMinor: l.DiscountMinor,
		}
	}
	return ev, nil
}

func decodeIdentity(body []byte) (IdentityEvent, error) {
	e, err := events.DecodeIdentity(body)
	if err != nil {
		return IdentityEvent{}, err
	}
	return IdentityEvent{EventID: e.EventID, At: e.At, DeviceToken: e.DeviceToken, CustomerID: e.CustomerID, Email: e.Email}, nil
}
