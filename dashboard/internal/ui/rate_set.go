package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

const ratesPage = "/admin/rates"

type rateSet struct{ *UI }

// rateForm reads the level (product or category) and target id of a
// program-wide rate form; the message is for the flash when they are bad.
func rateForm(r *http.Request) (storage.Rate, string) {
	var rt storage.Rate
	target := strings.TrimSpace(r.PostFormValue("target"))
	if target == "" {
		return rt, "enter a product or category id"
	}
	switch r.PostFormValue("level") {
	case "product":
		rt.ProductID = target
	case "category":
		rt.CategoryID = target
	default:
		return rt, "level must be product or category"
	}
	return rt, ""
}

// ServeHTTP sets a program-wide product or category rate. Setting a rate
// is an upsert, so a double submit is harmless and the form needs no
// request id (unlike the money forms).
func (h rateSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, msg := rateForm(r)
	if msg != "" {
		h.redirect(w, r, ratesPage, "Error: "+msg)
		return
	}
	h.saveRate(w, r, rt, ratesPage)
}

// saveRate sets rt (a program-wide or a partner's rate) at the form's rate
// and redirects back with the outcome.
func (u *UI) saveRate(w http.ResponseWriter, r *http.Request, rt storage.Rate, back string) {
	var err error
	if rt.RateUPct, err = links.ParsePercent(strings.TrimSpace(r.PostFormValue("rate"))); err != nil {
		u.redirect(w, r, back, "Error: rate: "+err.Error())
		return
	}
	if err := u.Store.SetRate(r.Context(), rt); err != nil {
		u.fail(w, r, back, err)
		return
	}
	u.redirect(w, r, back, "Rate saved.")
}
