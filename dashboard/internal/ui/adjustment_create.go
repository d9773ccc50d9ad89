package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type adjustmentCreate struct{ *UI }

// ServeHTTP posts a ± adjustment. The form's request_id makes a double
// submit post once.
func (h adjustmentCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	back := "/admin/partners/" + itoa(id)
	s, _ := sessionOf(r)
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.ParseSigned(cur, strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil || amount == 0 {
		h.redirect(w, r, back, "Error: amount must be a non-zero decimal such as -5.00")
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || len(reason) > 200 {
		h.redirect(w, r, back, "Error: reason must be 1 to 200 characters")
		return
	}
	key, ok := formKey(r, "adjustment")
	if !ok {
		h.redirect(w, r, back, "Error: reload the page and try again")
		return
	}
	if _, err := h.Store.CreateAdjustment(r.Context(), h.Ledger, storage.Adjustment{PartnerID: id, AmountMinor: amount,
		Currency: cur.Code(), Reason: reason, Key: key}, s.User.ID); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Adjustment posted.")
}

// formKey derives an idempotency key from the form's request_id.
func formKey(r *http.Request, kind string) (string, bool) {
	rid := r.PostFormValue("request_id")
	if len(rid) < 16 || len(rid) > 64 {
		return "", false
	}
	return kind + ":form:" + rid, true
}
