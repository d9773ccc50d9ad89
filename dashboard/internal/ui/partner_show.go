package ui

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"

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
	// Links, bound customers and the money history are paged each on its
	// own (?links_page=, ?customers_page=, ?history_page=), so that none
	// of them is cut off.
	lpg := sectionPage(r, "links_page")
	ls, moreLinks, err := h.Store.AllLinks(ctx, id, lpg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cpg := sectionPage(r, "customers_page")
	cs, moreCustomers, err := h.Store.BoundCustomers(ctx, id, cpg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	hpg := sectionPage(r, "history_page")
	hist, moreHist, err := h.Store.MoneyHistoryPage(ctx, id, hpg)
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
		"Customers": cs, "History": hist, "RequestID": auth.NewToken(),
		"LinksPager":     sectionPagerOf(r, "links_page", "links", lpg, moreLinks),
		"CustomersPager": sectionPagerOf(r, "customers_page", "customers", cpg, moreCustomers),
		"HistoryPager":   sectionPagerOf(r, "history_page", "history", hpg, moreHist)}})
}

// partnerSectionRows is how many rows each list on the partner page shows
// at a time.
const partnerSectionRows = 20

// sectionPage reads the page of one list of the partner page from the
// query parameter param.
func sectionPage(r *http.Request, param string) storage.Page {
	n, _ := strconv.Atoi(r.URL.Query().Get(param))
	return storage.Page{Number: n, Size: partnerSectionRows}.Normalize()
}

// sectionPager is the pager of one list of the partner page: the page
// shown and the links to the previous and next ones (the other lists stay
// on their pages; anchor brings the browser back to the list).
type sectionPager struct {
	Number     int
	Prev, Next template.URL
}

func sectionPagerOf(r *http.Request, param, anchor string, pg storage.Page, more bool) sectionPager {
	p := sectionPager{Number: pg.Number}
	q := r.URL.Query()
	if pg.Number > 1 {
		q.Set(param, strconv.Itoa(pg.Number-1))
		p.Prev = template.URL("?" + q.Encode() + "#" + anchor)
	}
	if more {
		q.Set(param, strconv.Itoa(pg.Number+1))
		p.Next = template.URL("?" + q.Encode() + "#" + anchor)
	}
	return p
}
