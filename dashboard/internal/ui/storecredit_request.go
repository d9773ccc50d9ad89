package ui

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/openaff/affiliate/pkg/money"
)

type storeCreditRequest struct{ *UI }

// ServeHTTP asks to move available balance into store credit on a
// customer account (by customer id or e-mail); the admin approves.
func (h storeCreditRequest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/store-credit"
	s, _ := sessionOf(r)
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.Parse(cur, strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil || amount == 0 {
		h.redirect(w, r, back, "Error: amount must be a positive decimal such as 25.00")
		return
	}
	customer := strings.TrimSpace(r.PostFormValue("customer"))
	if customer == "" || utf8.RuneCountInString(customer) > 320 { // the longest e-mail; an id is at most 200
		h.redirect(w, r, back, "Error: enter the customer account (id or e-mail)")
		return
	}
	key, ok := formKey(r, "store_credit")
	if !ok {
		h.redirect(w, r, back, "Error: reload the page and try again")
		return
	}
	if _, err := h.Store.RequestStoreCredit(r.Context(), h.Ledger, s.User.PartnerID, s.User.ID, customer, amount, key+":"+itoa(s.User.PartnerID)); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Request sent; the admin will review it.")
}
