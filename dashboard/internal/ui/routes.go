package ui

import (
	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// PartnerAPIRoutes lists the partner JSON API (session cookie; writes need
// X-CSRF-Token). u may be nil to only read the list.
func PartnerAPIRoutes(u *UI) []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/partner/balance", Handler: apiBalanceGet{u}},
		{Method: "GET", Path: "/api/partner/links", Handler: apiLinkList{u}},
		{Method: "POST", Path: "/api/partner/links", Handler: apiLinkCreate{u}},
		{Method: "GET", Path: "/api/partner/commissions", Handler: apiCommissionList{u}},
		{Method: "GET", Path: "/api/partner/adjustments", Handler: apiAdjustmentList{u}},
	}
}

// requiredPages must exist as templates/<name>.html.
var requiredPages = []string{"login", "apply", "admin_home", "partner_list", "partner_show", "application_list",
	"order_list", "order_show", "commission_list", "announcement_list", "storecredit_list", "customer_show",
	"payout_list", "settings", "rate_list", "run_list", "catalog", "partner_home", "partner_customers", "partner_products",
	"partner_commissions", "partner_links", "partner_storecredit", "partner_bank", "partner_payouts", "partner_announcements",
	"partner_adjustments", "password"}

const (
	admin   = storage.RoleAdmin
	partner = storage.RolePartner
)

// routes lists every panel route with the role it needs.
func (u *UI) routes() []route {
	return []route{
		{"GET /{$}", "", homeShow{u}},
		{"GET /login", "", loginShow{u}},
		{"POST /login", "", loginSubmit{u}},
		{"POST /logout", "", logout{u}},
		{"GET /apply", "", applyShow{u}},
		{"POST /apply", "", applySubmit{u}},

		{"GET /admin", admin, adminHome{u}},
		{"GET /admin/partners", admin, partnerList{u}},
		{"POST /admin/partners", admin, partnerCreate{u}},
		{"GET /admin/partners/{id}", admin, partnerShow{u}},
		{"POST /admin/partners/{id}", admin, partnerUpdate{u}},
		{"POST /admin/partners/{id}/rates", admin, partnerRateSet{u}},
		{"POST /admin/partners/{id}/login", admin, partnerLoginSet{u}},
		{"POST /admin/partners/{id}/adjustments", admin, adjustmentCreate{u}},
		{"POST /admin/partners/{id}/penalties", admin, penaltyCreate{u}},
		{"POST /admin/partners/{id}/links", admin, linkCreate{u, true}},
		{"POST /admin/partners/{id}/links/{link}/deactivate", admin, linkSwitch{u, false}},
		{"POST /admin/partners/{id}/links/{link}/activate", admin, linkSwitch{u, true}},
		{"GET /admin/applications", admin, applicationList{u}},
		{"POST /admin/applications/{id}/approve", admin, applicationDecide{u, true}},
		{"POST /admin/applications/{id}/reject", admin, applicationDecide{u, false}},
		{"GET /admin/orders", admin, orderList{u}},
		{"POST /admin/orders", admin, saleCreate{u}},
		{"GET /admin/orders/{order_id}", admin, orderShow{u}},
		{"POST /admin/orders/{order_id}/partner", admin, orderPartnerUpdate{u}},
		{"GET /admin/commissions", admin, commissionList{u}},
		{"POST /admin/commissions/approve", admin, commissionApprove{u}},
		{"GET /admin/commissions.csv", admin, commissionExport{u}},
		{"GET /admin/announcements", admin, announcementList{u}},
		{"POST /admin/announcements", admin, announcementCreate{u}},
		{"GET /admin/store-credits", admin, storeCreditList{u}},
		{"POST /admin/store-credits/{id}/approve", admin, storeCreditDecide{u, true}},
		{"POST /admin/store-credits/{id}/reject", admin, storeCreditDecide{u, false}},
		{"GET /admin/customers", admin, customerShow{u}},
		{"POST /admin/customers/partner", admin, customerPartnerUpdate{u}},
		{"GET /admin/payouts", admin, payoutList{u}},
		{"POST /admin/payouts/{id}/paid", admin, payoutMark{u, true}},
		{"POST /admin/payouts/{id}/failed", admin, payoutMark{u, false}},
		{"GET /admin/rates", admin, rateList{u}},
		{"POST /admin/rates", admin, rateSet{u}},
		{"POST /admin/rates/delete", admin, rateDelete{u}},
		{"GET /admin/settings", admin, settingsShow{u}},
		{"POST /admin/settings", admin, settingsUpdate{u}},
		{"GET /admin/runs", admin, runList{u}},
		{"GET /admin/catalog", admin, catalogShow{u}},
		{"POST /admin/catalog", admin, catalogImport{u}},
		{"GET /admin/password", admin, passwordShow{u}},
		{"POST /admin/password", admin, passwordChange{u}},

		{"GET /partner", partner, partnerHome{u}},
		{"GET /partner/customers", partner, partnerCustomers{u}},
		{"POST /partner/customers", partner, customerClaim{u}},
		{"GET /partner/products", partner, partnerProducts{u}},
		{"GET /partner/commissions", partner, partnerCommissions{u}},
		{"GET /partner/links", partner, partnerLinks{u}},
		{"POST /partner/links", partner, linkCreate{u, false}},
		{"GET /partner/links/{id}/qr.svg", partner, linkQR{u}},
		{"POST /partner/links/{id}/deactivate", partner, linkDeactivate{u}},
		{"GET /partner/links/off", partner, partnerLinksOff{u}},
		{"POST /partner/links/{id}/activate", partner, linkActivate{u}},
		{"GET /partner/store-credit", partner, storeCreditShow{u}},
		{"POST /partner/store-credit", partner, storeCreditRequest{u}},
		{"GET /partner/bank", partner, bankShow{u}},
		{"POST /partner/bank", partner, bankUpdate{u}},
		{"GET /partner/adjustments", partner, partnerAdjustments{u}},
		{"GET /partner/payouts", partner, partnerPayouts{u}},
		{"POST /partner/payouts", partner, payoutRequest{u}},
		{"GET /partner/announcements", partner, partnerAnnouncements{u}},
		{"POST /partner/announcements/{id}/read", partner, announcementRead{u}},
		{"GET /partner/password", partner, passwordShow{u}},
		{"POST /partner/password", partner, passwordChange{u}},
	}
}
