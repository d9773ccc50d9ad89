package api

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type penaltyCreate struct{ Deps }

// ServeHTTP charges a shipping-fee penalty linked to an order.
func (h *penaltyCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		OrderID string `json:"order_id"`
		Amount  string `json:"amount"`
		Reason  string `json:"reason"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.OrderID == "" || len(in.OrderID) > 200 {
		h.fail(w, r, bad("order_id", "must be 1 to 200 bytes"))
		return
	}
	if len(in.Reason) > MaxReasonBytes {
		h.fail(w, r, bad("reason", "is longer than %d bytes", MaxReasonBytes))
		return
	}
	key, err := idempotencyKey(r, "penalty")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.Parse(cur, in.Amount)
	if err != nil || amount == 0 {
		h.fail(w, r, bad("amount", "must be a positive decimal such as \"4.90\""))
		return
	}
	pen, err := h.Store.CreatePenalty(r.Context(), h.Ledger, storage.Penalty{PartnerID: id, OrderID: in.OrderID,
		AmountMinor: amount, Currency: cur.Code(), Reason: strings.TrimSpace(in.Reason), Key: key}, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": pen.ID, "partner_id": id, "order_id": in.OrderID,
		"amount": money.Format(cur, amount), "currency": cur.Code()})
}
