package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type penaltyCreate struct{ *UI }

// ServeHTTP charges a shipping-fee penalty linked to an order.
func (h penaltyCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	back := "/admin/partners/" + itoa(id)
	s, _ := sessionOf(r)
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.Parse(cur, strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil || amount == 0 {
		h.redirect(w, r, back, "Error: amount must be a positive decimal such as 4.90")
		return
	}
	orderID, msg := formID(r, "order_id", "order id")
	if msg != "" {
		h.redirect(w, r, back, "Error: "+msg)
		return
	}
	if orderID == "" {
		h.redirect(w, r, back, "Error: order id is required")
		return
	}
	key, ok := formKey(r, "penalty")
	if !ok {
		h.redirect(w, r, back, "Error: reload the page and try again")
		return
	}
	if _, err := h.Store.CreatePenalty(r.Context(), h.Ledger, storage.Penalty{PartnerID: id, OrderID: orderID, AmountMinor: amount,
		Currency: cur.Code(), Reason: trimMax(r.PostFormValue("reason"), 200), Key: key}, s.User.ID); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Penalty applied.")
}
