package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type orderList struct{ Deps }

func rateString(upct int64) string { return links.FormatRate(upct) }

// dateParam parses an optional YYYY-MM-DD or RFC 3339 query value.
func dateParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, bad(name, "must be YYYY-MM-DD or RFC 3339")
	}
	return t, nil
}

func partnerParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("partner_id")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, bad("partner_id", "must be a positive integer")
	}
	return n, nil
}

func (h *orderList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var f storage.OrderFilter
	var err error
	if f.PartnerID, err = partnerParam(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if f.From, err = dateParam(r, "from"); err != nil {
		h.fail(w, r, err)
		return
	}
	if f.To, err = dateParam(r, "to"); err != nil {
		h.fail(w, r, err)
		return
	}
	f.Status = r.URL.Query().Get("status")
	switch v := r.URL.Query().Get("watermark_forced"); v {
	case "":
	case "true", "false":
		forced := v == "true"
		f.Forced = &forced
	default:
		h.fail(w, r, bad("watermark_forced", "must be true or false"))
		return
	}
	os, more, err := h.Store.Orders(r.Context(), f, pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]orderJSON, len(os))
	for i, o := range os {
		out[i] = orderToJSON(o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out, "has_more": more})
}
