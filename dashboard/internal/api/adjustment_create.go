package api

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type adjustmentCreate struct{ Deps }

// MaxReasonBytes bounds a reason (the ledger keeps notes up to 200 bytes).
const MaxReasonBytes = 200

// ServeHTTP posts a positive or negative adjustment. The optional
// Idempotency-Key header makes a retry safe.
func (h *adjustmentCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Amount string `json:"amount"`
		Reason string `json:"reason"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	key, err := idempotencyKey(r, "adjustment")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	amount, err := money.ParseSigned(cur, in.Amount)
	if err != nil || amount == 0 {
		h.fail(w, r, bad("amount", "must be a non-zero decimal such as \"-5.00\""))
		return
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" || len(reason) > MaxReasonBytes {
		h.fail(w, r, bad("reason", "must be 1 to %d bytes", MaxReasonBytes))
		return
	}
	a, err := h.Store.CreateAdjustment(r.Context(), h.Ledger, storage.Adjustment{PartnerID: id, AmountMinor: amount,
		Currency: cur.Code(), Reason: reason, Key: key}, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": a.ID, "partner_id": id, "amount": money.Format(cur, a.AmountMinor),
		"currency": cur.Code(), "reason": reason})
}
