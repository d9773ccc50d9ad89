package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerShow struct{ *UI }

// ServeHTTP shows a partner's profile form, rates, balance, links, bound
// customers and money history, with the adjustment and penalty forms.
func (h partnerShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	p, err := h.Store.Partner(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	rates, err := h.Store.RatesOf(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	bal, cur, err := api.PartnerBalance(ctx, h.Store, h.Ledger, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	ls, _, err := h.Store.Links(ctx, id, storage.Page{Size: 20})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cs, _, err := h.Store.BoundCustomers(ctx, id, storage.Page{Size: 20})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	hist, err := h.Store.MoneyHistory(ctx, id, 20)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	rateStr := ""
	if p.HasDefaultRate() {
		rateStr = links.FormatRate(p.DefaultRateUPct)
	}
	h.render(w, r, "partner_show", http.StatusOK, view{Title: p.Name, Data: map[string]any{
		"P": p, "Rate": rateStr, "Rates": rates, "Balance": bal, "Currency": cur.Code(), "Links": ls, "LinkMaker": h.Links,
		"Customers": cs, "History": hist, "RequestID": auth.NewToken()}})
}
