package ui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/openaff/affiliate/pkg/money"
)

type payoutRequest struct{ *UI }

// payoutForm is the name under which a refused payout request is kept.
const payoutForm = "payout"

// ServeHTTP requests a payout of available balance (at least the program
// minimum, at most the available balance; bank details required). A
// refused request shows the form again with the amount typed.
func (h payoutRequest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/payouts"
	s, _ := sessionOf(r)
	refuse := func(msg string) {
		h.keepForm(w, r, payoutForm, back, url.Values{"amount": {r.PostFormValue("amount")}})
		h.redirect(w, r, back, "Error: "+msg)
	}
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.Parse(cur, strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil || amount == 0 {
		refuse("amount must be a positive decimal such as 50.00")
		return
	}
	key, ok := formKey(r, "payout")
	if !ok {
		refuse("reload the page and try again")
		return
	}
	if _, err := h.Store.RequestPayout(r.Context(), h.Ledger, s.User.PartnerID, s.User.ID, amount, key+":"+itoa(s.User.PartnerID)); err != nil {
		if msg, ok := formError(err); ok {
			refuse(msg)
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.redirect(w, r, back, "Payout requested.")
}
