package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type bankUpdate struct{ *UI }

// ServeHTTP saves the partner's bank details; the IBAN must pass its
// mod-97 checksum.
func (h bankUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/bank"
	s, _ := sessionOf(r)
	holder := strings.TrimSpace(r.PostFormValue("holder"))
	if holder == "" || len(holder) > 200 {
		h.redirect(w, r, back, "Error: account holder must be 1 to 200 characters")
		return
	}
	iban, err := auth.NormalizeIBAN(r.PostFormValue("iban"))
	if err != nil {
		h.redirect(w, r, back, "Error: "+err.Error())
		return
	}
	bic := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("bic")), " ", ""))
	if bic != "" && len(bic) != 8 && len(bic) != 11 {
		h.redirect(w, r, back, "Error: BIC must be 8 or 11 characters")
		return
	}
	for _, c := range bic {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			h.redirect(w, r, back, "Error: BIC may hold only letters and digits")
			return
		}
	}
	if err := h.Store.SetBankAccount(r.Context(), s.User.PartnerID, storage.BankAccount{Holder: holder, IBAN: iban, BIC: bic}); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Bank details saved.")
}
