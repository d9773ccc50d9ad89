package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/pkg/money"
)

type payoutRequest struct{ *UI }

// ServeHTTP requests a payout of available balance (at least the program
// minimum, at most the available balance; bank details required).
func (h payoutRequest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/payouts"
	s, _ := sessionOf(r)
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.Parse(cur, strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil || amount == 0 {
		h.redirect(w, r, back, "Error: amount must be a positive decimal such as 50.00")
		return
	}
	key, ok := formKey(r, "payout")
	if !ok {
		h.redirect(w, r, back, "Error: reload the page and try again")
		return
	}
	if _, err := h.Store.RequestPayout(r.Context(), h.Ledger, s.User.PartnerID, s.User.ID, amount, key+":"+itoa(s.User.PartnerID)); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Payout requested.")
}
