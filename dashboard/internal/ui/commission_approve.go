package ui

import (
	"net/http"
	"net/url"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type commissionApprove struct{ *UI }

// ServeHTTP approves the checked commissions (ids) or all pending
// commissions of one order (order_id).
func (h commissionApprove) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	back := "/admin/commissions"
	// The order id exactly as the order page sent it: shop ids may hold
	// spaces or any printable character, and a cut id is another order.
	orderID := r.PostFormValue("order_id")
	var ids []int64
	for _, v := range r.PostForm["ids"] {
		if id, ok := parseID(v); ok {
			ids = append(ids, id)
		}
	}
	if orderID != "" {
		back = "/admin/orders/" + url.PathEscape(orderID)
		ids = nil
	} else if len(ids) == 0 {
		h.redirect(w, r, back, "Error: select at least one commission")
		return
	}
	if len(ids) > storage.MaxApproveBatch {
		h.redirect(w, r, back, "Error: too many commissions at once")
		return
	}
	a, err := h.Store.Approve(r.Context(), h.Ledger, orderID, ids, s.User.ID)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	msg := "Approved " + itoa(int64(a.Approved)) + " commission(s)."
	if a.Skipped > 0 {
		msg += " " + itoa(int64(a.Skipped)) + " left pending until the next settlement pass (their orders have unsettled changes)."
	}
	h.redirect(w, r, back, msg)
}
