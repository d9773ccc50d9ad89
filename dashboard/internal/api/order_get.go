package api

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type orderGet struct{ Deps }

type attributionJSON struct {
	PartnerID *int64  `json:"partner_id"`
	Rule      string  `json:"rule"`
	ClickID   *string `json:"click_id"`
	// SelfReferral: the customer is the partner's own shop account, so
	// the order earns it no commission.
	SelfReferral bool `json:"self_referral"`
	// WatermarkForced: decided after the settler's maximum wait, without
	// every click in ClickHouse (storage.Order.WatermarkForced).
	WatermarkForced bool                `json:"watermark_forced"`
	Candidates      []storage.Candidate `json:"candidates,omitempty"` // loaded for one order only
}

type commissionJSON struct {
	ID         int64  `json:"id"`
	OrderID    string `json:"order_id"`
	LineID     string `json:"line_id"`
	PartnerID  int64  `json:"partner_id"`
	Base       string `json:"base"`
	Rate       string `json:"rate"`
	Amount     string `json:"amount"`
	Voided     string `json:"voided"`
	ClawedBack string `json:"clawed_back"`
	Kept       string `json:"kept"` // amount - voided - clawed_back: what the partner keeps
	Currency   string `json:"currency"`
	State      string `json:"state"`
	CreatedAt  string `json:"created_at"`
	ApprovedAt string `json:"approved_at,omitempty"`
}

type lineJSON struct {
	LineID         string `json:"line_id"`
	ProductID      string `json:"product_id"`
	CategoryID     string `json:"category_id,omitempty"`
	Quantity       int64  `json:"quantity"`
	UnitPrice      string `json:"unit_price"`
	Discount       string `json:"discount"`
	RefundedQty    int64  `json:"refunded_quantity"`
	RefundedAmount string `json:"refunded_amount"`
}

type orderJSON struct {
	OrderID     string           `json:"order_id"`
	CustomerID  string           `json:"customer_id,omitempty"`
	Currency    string           `json:"currency"`
	PlacedAt    string           `json:"placed_at"`
	Status      string           `json:"status"`
	Total       string           `json:"total"`
	ShippingFee string           `json:"shipping_fee"`
	Manual      bool             `json:"manual"`
	Settled     bool             `json:"settled"`
	Lines       []lineJSON       `json:"lines,omitempty"` // loaded for one order only
	Attribution *attributionJSON `json:"attribution"`
}

// orderDetailJSON is one order as GET /api/admin/orders/{order_id}
// answers it: lines, candidates and commissions always present, as
// arrays (empty when there are none).
type orderDetailJSON struct {
	orderJSON
	Lines       []lineJSON             `json:"lines"`
	Attribution *attributionDetailJSON `json:"attribution"`
	Commissions []commissionJSON       `json:"commissions"`
}

type attributionDetailJSON struct {
	attributionJSON
	Candidates []storage.Candidate `json:"candidates"`
}

func fmtMoney(code string, minor int64) string {
	cur, err := money.ParseCurrency(code)
	if err != nil {
		return ""
	}
	return money.Format(cur, minor)
}

func commissionToJSON(c storage.Commission) commissionJSON {
	out := commissionJSON{ID: c.ID, OrderID: c.OrderID, LineID: c.LineID, PartnerID: c.PartnerID,
		Base: fmtMoney(c.Currency, c.BaseMinor), Rate: rateString(c.RateUPct), Amount: fmtMoney(c.Currency, c.AmountMinor),
		Voided: fmtMoney(c.Currency, c.VoidedAmountMinor), ClawedBack: fmtMoney(c.Currency, c.ClawedBackAmountMinor),
		Kept:     fmtMoney(c.Currency, c.KeptMinor()),
		Currency: c.Currency, State: c.State, CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339)}
	if c.ApprovedAt != nil {
		out.ApprovedAt = c.ApprovedAt.UTC().Format(time.RFC3339)
	}
	return out
}

func orderToJSON(o storage.Order) orderJSON {
	out := orderJSON{OrderID: o.ID, CustomerID: o.CustomerID, Currency: o.Currency,
		PlacedAt: o.PlacedAt.UTC().Format(time.RFC3339), Status: o.Status, Total: fmtMoney(o.Currency, o.TotalMinor),
		ShippingFee: fmtMoney(o.Currency, o.ShippingFeeMinor), Manual: o.Manual, Settled: o.Settled}
	if o.Rule != "" {
		a := &attributionJSON{Rule: o.Rule, SelfReferral: o.SelfReferral, WatermarkForced: o.WatermarkForced, Candidates: o.Candidates}
		if o.PartnerID > 0 {
			pid := o.PartnerID
			a.PartnerID = &pid
		}
		if o.ClickID != "" {
			c := o.ClickID
			a.ClickID = &c
		}
		out.Attribution = a
	}
	for _, l := range o.Lines {
		out.Lines = append(out.Lines, lineJSON{LineID: l.LineID, ProductID: l.ProductID, CategoryID: l.CategoryID,
			Quantity: l.Quantity, UnitPrice: fmtMoney(o.Currency, l.UnitPriceMinor), Discount: fmtMoney(o.Currency, l.DiscountMinor),
			RefundedQty: l.RefundedQuantity, RefundedAmount: fmtMoney(o.Currency, l.RefundedAmountMinor)})
	}
	return out
}

// ServeHTTP answers the order with its current attribution (null until
// the settler decided) and every commission; 404 until the order is known.
func (h *orderGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathText(r, "order_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	o, err := h.Store.Order(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.Store.OrderCommissions(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	base := orderToJSON(o)
	out := orderDetailJSON{orderJSON: base, Lines: base.Lines, Commissions: make([]commissionJSON, len(cs))}
	if out.Lines == nil {
		out.Lines = []lineJSON{}
	}
	if base.Attribution != nil {
		out.Attribution = &attributionDetailJSON{attributionJSON: *base.Attribution, Candidates: base.Attribution.Candidates}
		if out.Attribution.Candidates == nil {
			out.Attribution.Candidates = []storage.Candidate{}
		}
	}
	for i, c := range cs {
		out.Commissions[i] = commissionToJSON(c)
	}
	writeJSON(w, http.StatusOK, out)
}
