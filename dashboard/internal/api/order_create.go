package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
)

type orderCreate struct{ Deps }

// MaxSaleLines bounds the lines of a manual sales record.
const MaxSaleLines = 100

// SaleInput is a manual sales record as typed by the admin.
type SaleInput struct {
	OrderID    string          `json:"order_id"`
	PartnerID  json.RawMessage `json:"partner_id"`
	CustomerID string          `json:"customer_id"`
	Currency   string          `json:"currency"`
	At         string          `json:"at"`
	Lines      []struct {
		LineID     string `json:"line_id"`
		ProductID  string `json:"product_id"`
		CategoryID string `json:"category_id"`
		Quantity   int64  `json:"quantity"`
		UnitPrice  string `json:"unit_price"`
		Discount   string `json:"discount"`
	} `json:"lines"`
}

// saleID checks an id of a manual sale as a streamed order's is checked
// (pkg/events: 1 to events.MaxIDLen bytes, no control characters, not
// only spaces): the settler and the sink read both alike.
func saleID(field, s string, required bool) error {
	if s == "" {
		if required {
			return bad(field, "missing")
		}
		return nil
	}
	if err := events.CheckOptionalID(field, s); err != nil {
		var fe *events.FieldError
		if errors.As(err, &fe) {
			return bad(field, "%s", fe.Msg)
		}
		return bad(field, "%v", err)
	}
	return nil
}

// ParseSale validates a manual sale (defaultCurrency when none is given).
func ParseSale(in SaleInput, defaultCurrency string) (storage.ManualSale, error) {
	var m storage.ManualSale
	var err error
	if m.PartnerID, err = parseID("partner_id", in.PartnerID); err != nil {
		return m, err
	}
	m.OrderID = strings.TrimSpace(in.OrderID)
	if err := saleID("order_id", m.OrderID, true); err != nil {
		return m, err
	}
	m.CustomerID = strings.TrimSpace(in.CustomerID)
	if err := saleID("customer_id", m.CustomerID, false); err != nil {
		return m, err
	}
	if in.Currency == "" {
		in.Currency = defaultCurrency
	}
	cur, err := money.ParseCurrency(in.Currency)
	if err != nil {
		return m, bad("currency", "%v", err)
	}
	m.Currency = cur.Code()
	m.PlacedAt = time.Now().UTC()
	if in.At != "" {
		if m.PlacedAt, err = time.Parse(time.RFC3339, in.At); err != nil {
			return m, bad("at", "must be RFC 3339")
		}
	}
	if len(in.Lines) == 0 || len(in.Lines) > MaxSaleLines {
		return m, bad("lines", "must hold 1 to %d lines", MaxSaleLines)
	}
	seen := map[string]bool{}
	var sum int64
	for i, l := range in.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		if l.LineID == "" {
			l.LineID = fmt.Sprint(i + 1)
		}
		if err := saleID(field+".line_id", l.LineID, true); err != nil {
			return m, err
		}
		if seen[l.LineID] {
			return m, bad(field+".line_id", "is another line's too: line ids must be unique")
		}
		seen[l.LineID] = true
		if err := saleID(field+".product_id", l.ProductID, true); err != nil {
			return m, err
		}
		if err := saleID(field+".category_id", l.CategoryID, false); err != nil {
			return m, err
		}
		if l.Quantity <= 0 || l.Quantity > events.MaxQuantity {
			return m, bad(field+".quantity", "must be 1 to %d", events.MaxQuantity)
		}
		price, err := money.Parse(cur, l.UnitPrice)
		if err != nil {
			return m, bad(field+".unit_price", "%v", err)
		}
		var disc int64
		if l.Discount != "" {
			if disc, err = money.Parse(cur, l.Discount); err != nil {
				return m, bad(field+".discount", "%v", err)
			}
		}
		total, err := money.MulQty(price, l.Quantity)
		if err != nil || total > events.MaxAmountMinor {
			// The ledger refuses larger amounts: such a sale would stop
			// every settlement pass (the same bound as streamed orders).
			return m, bad(field+".quantity", "unit_price × quantity is above the largest amount, %d minor units", events.MaxAmountMinor)
		}
		if disc > total {
			return m, bad(field+".discount", "must not exceed unit_price × quantity")
		}
		if sum += total - disc; sum > events.MaxAmountMinor {
			return m, bad("lines", "the lines' total is above the largest amount, %d minor units", events.MaxAmountMinor)
		}
		m.Lines = append(m.Lines, storage.OrderLine{LineID: l.LineID, ProductID: l.ProductID, CategoryID: l.CategoryID,
			Quantity: l.Quantity, UnitPriceMinor: price, DiscountMinor: disc})
	}
	return m, nil
}

// ServeHTTP creates a manual sales record attributed to a partner; the
// settler computes its commissions on its next pass.
func (h *orderCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in SaleInput
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := ParseSale(in, p.Currency)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.Store.CreateManualSale(r.Context(), m, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	o, err := h.Store.Order(r.Context(), m.OrderID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, orderToJSON(o))
}
