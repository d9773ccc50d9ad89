package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/money"
)

type balanceGet struct{ Deps }

// BalanceJSON is a partner's balance in decimal strings (DESIGN §4.4).
type BalanceJSON struct {
	Currency  string `json:"currency"`
	Pending   string `json:"pending"`
	Available string `json:"available"`
	Reserved  string `json:"reserved"`
	PaidOut   string `json:"paid_out"`
	InFlight  string `json:"in_flight"`
}

// PartnerBalance reads a partner's balance in the program currency.
func PartnerBalance(ctx context.Context, st *storage.Storage, l *ledger.Ledger, partnerID int64) (ledger.Balance, money.Currency, error) {
	p, err := st.Program(ctx)
	if err != nil {
		return ledger.Balance{}, money.Currency{}, err
	}
	cur, err := money.ParseCurrency(p.Currency)
	if err != nil {
		return ledger.Balance{}, money.Currency{}, err
	}
	b, err := l.Balance(ctx, strconv.FormatInt(partnerID, 10), p.Currency)
	return b, cur, err
}

func (h *balanceGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.Store.Partner(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	b, cur, err := PartnerBalance(r.Context(), h.Store, h.Ledger, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, BalanceJSON{Currency: cur.Code(), Pending: money.Format(cur, b.PendingMinor),
		Available: money.Format(cur, b.AvailableMinor), Reserved: money.Format(cur, b.ReservedMinor),
		PaidOut: money.Format(cur, b.PaidOutMinor), InFlight: money.Format(cur, b.InFlightMinor)})
}
