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

// ServeHTTP generates a tracking link: for a catalog product (its URL, or
// product_url when the catalog has none), a category (url given, else the
// shop's ?category= page, see links.Maker.ShopURL) or any shop URL (a deep
// link). A partner can only create links for themselves: the partner comes
// from the session, never from the form.
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
	field := "url" // the form field raw came from, for the error
	if raw == "" && productID != "" {
		p, err := h.Store.Product(ctx, productID)
		if err != nil {
			h.fail(w, r, back, err)
			return
		}
		// Products first seen in orders have no URL until a catalog import
		// gives them one: the product form's shop URL stands in for it.
		raw, categoryID = p.URL, p.CategoryID
		if raw == "" {
			raw, field = strings.TrimSpace(r.PostFormValue("product_url")), "shop URL"
		}
		if raw == "" {
			h.redirect(w, r, back, "Error: the catalog has no shop URL for product "+productID+
				"; paste the address of its page in the shop in the product link form's \"Shop URL\" field and generate again")
			return
		}
	}
	if raw == "" {
		raw = h.Links.ShopURL(categoryID)
	}
	target, err := h.Links.CheckTarget(raw)
	if err != nil {
		h.redirect(w, r, back, "Error: "+field+" "+err.Error())
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
