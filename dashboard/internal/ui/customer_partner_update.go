package ui

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxIDChars is the longest order or customer id (the columns' limit).
const maxIDChars = 200

type customerPartnerUpdate struct{ *UI }

// ServeHTTP attaches the customer to a partner or detaches it.
func (h customerPartnerUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	cid := strings.TrimSpace(r.PostFormValue("customer_id"))
	back := "/admin/customers?customer_id=" + urlQueryEscape(cid)
	pid, ok := parseID(r.PostFormValue("partner_id"))
	if cid == "" || !ok {
		h.redirect(w, r, back, "Error: customer id and partner id are required")
		return
	}
	if utf8.RuneCountInString(cid) > maxIDChars {
		// Never cut: attaching creates an unknown customer, so a cut id
		// would bind a customer that does not exist.
		h.redirect(w, r, "/admin/customers", "Error: customer_id: is longer than "+itoa(maxIDChars)+" characters")
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
