package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type orderShow struct{ *UI }

// ServeHTTP shows one order: lines, attribution decision, commissions and
// the attach/remove partner form.
func (h orderShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("order_id")
	ctx := r.Context()
	o, err := h.Store.Order(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cs, err := h.Store.OrderCommissions(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	ov, hasOv, err := h.Store.OrderOverridePartner(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "order_show", http.StatusOK, view{Title: "Order " + o.ID, Data: map[string]any{
		"O": o, "Commissions": cs, "Override": ov, "HasOverride": hasOv}})
}
