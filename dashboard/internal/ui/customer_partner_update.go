package ui

import (
	"net/http"
	"strings"
)

// maxIDChars is the longest order or customer id (the columns' limit).
const maxIDChars = 200

type customerPartnerUpdate struct{ *UI }

// ServeHTTP attaches the customer to a partner or detaches it.
func (h customerPartnerUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	// Never cut (formID): attaching creates an unknown customer, so a cut
	// id would bind a customer that does not exist.
	cid, tooLong := formID(r, "customer_id", "customer_id")
	back := "/admin/customers?customer_id=" + urlQueryEscape(cid)
	pid, ok := parseID(r.PostFormValue("partner_id"))
	if (cid == "" && tooLong == "") || !ok {
		h.redirect(w, r, back, "Error: customer id and partner id are required")
		return
	}
	if tooLong != "" {
		h.redirect(w, r, "/admin/customers", "Error: "+tooLong)
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
