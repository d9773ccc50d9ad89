package api

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type payoutList struct{ Deps }

type payoutJSON struct {
	ID          int64  `json:"id"`
	PartnerID   int64  `json:"partner_id"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
	IBAN        string `json:"iban,omitempty"`
	Reference   string `json:"reference,omitempty"`
	RequestedAt string `json:"requested_at"`
}

func payoutToJSON(p storage.Payout) payoutJSON {
	return payoutJSON{ID: p.ID, PartnerID: p.PartnerID, Amount: fmtMoney(p.Currency, p.AmountMinor), Currency: p.Currency,
		Status: p.Status, IBAN: p.IBAN, Reference: p.Reference, RequestedAt: p.RequestedAt.UTC().Format(time.RFC3339)}
}

func (h *payoutList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pid, err := partnerParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ps, more, err := h.Store.Payouts(r.Context(), pid, r.URL.Query().Get("status"), pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]payoutJSON, len(ps))
	for i, p := range ps {
		out[i] = payoutToJSON(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"payouts": out, "has_more": more})
}
