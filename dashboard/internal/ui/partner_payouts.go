package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/pkg/money"
)

type partnerPayouts struct{ *UI }

// ServeHTTP lists the partner's payouts (with the payment reference the
// admin entered or the reason a payout failed) and offers a payout request.
func (h partnerPayouts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	ctx := r.Context()
	pg := pageNumber(r)
	ps, more, err := h.Store.Payouts(ctx, s.User.PartnerID, "", pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	bal, cur, err := api.PartnerBalance(ctx, h.Store, h.Ledger, s.User.PartnerID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	p, err := h.Store.Program(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// The amount field offers the whole available balance, or, right after
	// a refused request, the amount the partner typed.
	amount := money.Format(cur, max(bal.AvailableMinor, 0))
	if typed := h.keptForm(w, r, payoutForm, r.URL.Path); typed != nil {
		amount = typed.Get("amount")
	}
	h.render(w, r, "partner_payouts", http.StatusOK, view{Title: "Payouts", Page: pg, HasMore: more, Data: map[string]any{
		"Payouts": ps, "Available": bal.AvailableMinor, "Currency": cur.Code(), "Min": p.MinPayoutMinor,
		"AvailableStr": amount, "RequestID": auth.NewToken()}})
}
