package ui

import (
	"cmp"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type linkCreate struct {
	*UI
	admin bool
}

// ServeHTTP generates a tracking link: for a catalog product (its URL), a
// category (url given) or any shop URL (a deep link). A partner can only
// create links for themselves: the partner comes from the session, never
// from the form.
func (h linkCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	partnerID, back := s.User.PartnerID, "/partner/links"
	if h.admin {
		id, ok := parseID(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		partnerID, back = id, "/admin/partners/"+itoa(id)
	}
	ctx := r.Context()
	if !h.admin {
		p, err := h.Store.Partner(ctx, partnerID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		if p.Status != "active" {
			h.redirect(w, r, back, "Error: your account is suspended; new links are not possible")
			return
		}
	}
	raw := strings.TrimSpace(r.PostFormValue("url"))
	productID, msgP := formID(r, "product_id", "product")
	categoryID, msgC := formID(r, "category_id", "category")
	if msg := cmp.Or(msgP, msgC); msg != "" {
		h.redirect(w, r, back, "Error: "+msg)
		return
	}
	if raw == "" && productID != "" {
		p, err := h.Store.Product(ctx, productID)
		if err != nil {
			h.fail(w, r, back, err)
			return
		}
		raw, categoryID = p.URL, p.CategoryID
		if raw == "" {
			h.redirect(w, r, back, "Error: that product has no URL in the catalog; paste its shop URL")
			return
		}
	}
	if raw == "" {
		raw = h.Links.ShopURL(categoryID)
	}
	target, err := h.Links.CheckTarget(raw)
	if err != nil {
		h.redirect(w, r, back, "Error: url "+err.Error())
		return
	}
	kind := "deep"
	if productID != "" || categoryID != "" {
		kind = "link"
	}
	l, _, err := h.Store.CreateLink(ctx, storage.Link{PartnerID: partnerID, Kind: kind, TargetURL: target,
		ProductID: productID, CategoryID: categoryID}, s.User.ID)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back+"?new="+itoa(l.ID), "Link ready: "+h.Links.TrackingURL(l.Code))
}
