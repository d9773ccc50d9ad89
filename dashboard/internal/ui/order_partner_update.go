package ui

import (
	"net/http"
	"net/url"
)

type orderPartnerUpdate struct{ *UI }

// ServeHTTP attaches a partner to the order (partner_id) or removes any
// partner (remove=1); the settler re-attributes on its next pass.
func (h orderPartnerUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("order_id")
	back := "/admin/orders/" + url.PathEscape(id)
	s, _ := sessionOf(r)
	var pid int64
	if r.PostFormValue("remove") == "" {
		var ok bool
		if pid, ok = parseID(r.PostFormValue("partner_id")); !ok {
			h.redirect(w, r, back, "Error: partner id must be a number")
			return
		}
	}
	if err := h.Store.SetOrderPartner(r.Context(), id, pid, s.User.ID, trimMax(r.PostFormValue("reason"), 1000)); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Override saved; the next settlement pass applies it.")
}
