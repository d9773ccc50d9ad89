package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/api"
)

type saleCreate struct{ *UI }

// ServeHTTP creates a manual sales record (one line from the form) for a
// partner; it goes through the settler's normal settlement.
func (h saleCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/orders"
	s, _ := sessionOf(r)
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	qty, _ := strconv.ParseInt(r.PostFormValue("quantity"), 10, 64)
	in := api.SaleInput{OrderID: r.PostFormValue("order_id"), PartnerID: json.RawMessage(strconv.Quote(r.PostFormValue("partner_id"))),
		CustomerID: r.PostFormValue("customer_id"), Currency: p.Currency}
	in.Lines = append(in.Lines, struct {
		LineID     string `json:"line_id"`
		ProductID  string `json:"product_id"`
		CategoryID string `json:"category_id"`
		Quantity   int64  `json:"quantity"`
		UnitPrice  string `json:"unit_price"`
		Discount   string `json:"discount"`
	}{LineID: "1", ProductID: r.PostFormValue("product_id"), CategoryID: r.PostFormValue("category_id"), Quantity: qty,
		UnitPrice: r.PostFormValue("unit_price"), Discount: r.PostFormValue("discount")})
	m, err := api.ParseSale(in, p.Currency)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	if err := h.Store.CreateManualSale(r.Context(), m, s.User.ID); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, "/admin/orders/"+url.PathEscape(m.OrderID), "Sales record created; commissions follow on the next settlement pass.")
}
