package ui

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type commissionExport struct{ *UI }

// ServeHTTP streams the filtered commissions as CSV (keyset pages, flat
// memory, at most storage.MaxExportRows rows).
func (h commissionExport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, err := api.CommissionFilterOf(r)
	if err != nil {
		msg, _ := api.BadRequestMessage(err)
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="commissions.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "created_at", "order_id", "line_id", "partner_id", "currency", "base", "rate_percent", "amount", "voided", "clawed_back", "state", "approved_at"})
	err = h.Store.EachCommission(r.Context(), f, func(c storage.Commission) error {
		cur, _ := money.ParseCurrency(c.Currency)
		approved := ""
		if c.ApprovedAt != nil {
			approved = c.ApprovedAt.UTC().Format(time.RFC3339)
		}
		return cw.Write([]string{strconv.FormatInt(c.ID, 10), c.CreatedAt.UTC().Format(time.RFC3339), csvSafe(c.OrderID), csvSafe(c.LineID),
			strconv.FormatInt(c.PartnerID, 10), c.Currency, money.Format(cur, c.BaseMinor), links.FormatRate(c.RateUPct),
			money.Format(cur, c.AmountMinor), money.Format(cur, c.VoidedAmountMinor), money.Format(cur, c.ClawedBackAmountMinor), c.State, approved})
	})
	cw.Flush()
	if err != nil {
		// Headers are gone; the truncated file ends with an error line.
		h.Log.ErrorContext(r.Context(), "commission export failed", "error", err)
		_, _ = w.Write([]byte("# export failed\n"))
	}
}

// csvSafe defuses spreadsheet formula injection in ids that come from
// the shop.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
