package ui

import (
	"net/http"
	"strings"
)

type customerPartnerUpdate struct{ *UI }

// ServeHTTP attaches the customer to a partner or detaches it.
func (h customerPartnerUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	cid := trimMax(r.PostFormValue("customer_id"), 200)
	back := "/admin/customers?customer_id=" + urlQueryEscape(cid)
	pid, ok := parseID(r.PostFormValue("partner_id"))
	if cid == "" || !ok {
		h.redirect(w, r, back, "Error: customer id and partner id are required")
		return
	}
	var err error
	if strings.TrimSpace(r.PostFormValue("detach")) != "" {
		err = h.Store.DetachCustomer(r.Context(), cid, pid, s.User.ID)
	} else {
		err = h.Store.AttachCustomer(r.Context(), cid, pid, s.User.ID)
	}
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Customer binding saved.")
}
