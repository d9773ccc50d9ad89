package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The program default rate is 10 %: a 25.00 line earns 2.50, 40.00 earns 4.00.

func TestFlowLinkedProductBought(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Serdar", "shoe")
	d := s.newDevice(t)
	d.visit(t, p.Link, s.shopURL+"/p/shoe")
	id := s.order(t, d, "", "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	o := s.wantAttribution(t, id, "device", p.ID)
	if o.Attribution.ClickID == nil || *o.Attribution.ClickID == "" {
		t.Fatalf("device attribution of %s names no click", id)
	}
	if got := s.commissionsByLine(t, id, p.ID); fmt.Sprint(got) != "map[1:250]" {
		t.Fatalf("commissions of %s by line %v, want line 1: 250", id, got)
	}
	if len(o.Commissions) != 1 || o.Commissions[0].Amount != "2.50" || o.Commissions[0].State != "pending" {
		t.Fatalf("order %s commissions through the API %+v, want one pending 2.50", id, o.Commissions)
	}
	if b := s.balance(t, p.ID); b.Pending != "2.50" || b.Available != "0.00" {
		t.Fatalf("partner balance %+v, want 2.50 pending and nothing available", b)
	}
}

func TestFlowOtherProductBought(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Ayla", "shoe")
	d := s.newDevice(t)
	d.visit(t, p.Link, s.shopURL+"/p/shoe")
	// The visitor came for the shoe and bought a hat instead: it still earns.
	id := s.order(t, d, "", "", line{"hat", 1, "40.00", ""})
	s.settle(t)
	s.wantAttribution(t, id, "device", p.ID)
	if got := s.commissionsByLine(t, id, p.ID); fmt.Sprint(got) != "map[1:400]" {
		t.Fatalf("commissions of %s by line %v, want line 1: 400", id, got)
	}
	if b := s.balance(t, p.ID); b.Pending != "4.00" {
		t.Fatalf("partner balance %+v, want 4.00 pending", b)
	}
}

func TestFlowLinkedPlusAnotherBothEarn(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Mira", "shoe")
	d := s.newDevice(t)
	d.visit(t, p.Link, s.shopURL+"/p/shoe")
	// Shipping is not commissionable; the discount lowers the hat's base.
	id := s.order(t, d, "", "4.90", line{"shoe", 2, "25.00", ""}, line{"hat", 1, "40.00", "5.00"})
	s.settle(t)
	o := s.wantAttribution(t, id, "device", p.ID)
	if got := s.commissionsByLine(t, id, p.ID); fmt.Sprint(got) != "map[1:500 2:350]" {
		t.Fatalf("commissions of %s by line %v, want line 1: 500 (2 × 25.00), line 2: 350 (40.00 - 5.00)", id, got)
	}
	if len(o.Commissions) != 2 {
		t.Fatalf("order %s shows %d commissions through the API, want 2", id, len(o.Commissions))
	}
	if b := s.balance(t, p.ID); b.Pending != "8.50" {
		t.Fatalf("partner balance %+v, want 8.50 pending (no commission on shipping)", b)
	}
}

func TestFlowOtherDeviceLoginCreditsThroughCustomerBinding(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Deniz", "")
	laptop := s.newDevice(t)
	// The partner's own site link, then the visitor signs up and leaves.
	laptop.visit(t, s.trackerURL+"/"+p.Slug, s.shopURL)
	customer := "cust-" + randomHex(6)
	s.identify(t, laptop, customer, "")
	// Later, on the phone, without any link: log in and buy.
	phone := s.newDevice(t)
	s.identify(t, phone, customer, "")
	id := s.order(t, phone, customer, "", line{"lamp", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, id, "customer_binding", p.ID)
	if got := s.commissionsByLine(t, id, p.ID); fmt.Sprint(got) != "map[1:250]" {
		t.Fatalf("commissions of %s by line %v, want line 1: 250", id, got)
	}
	var b struct {
		PartnerID int64  `json:"partner_id"`
		Source    string `json:"source"`
	}
	s.admin(t, "GET", "/api/admin/customers/"+customer+"/partner", nil, http.StatusOK, &b)
	if b.PartnerID != p.ID || b.Source != "identity" {
		t.Fatalf("customer binding %+v, want partner %d from identity", b, p.ID)
	}
}

func TestFlowDeviceCreditedWhileCookieLives(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Kaan", "shoe")
	d := s.newDevice(t)
	d.visit(t, p.Link, s.shopURL+"/p/shoe")
	first := s.order(t, d, "", "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, first, "device", p.ID)
	// The visitor comes back to the shop directly (no link) with the same
	// browser: the cookie is still there, so the device is still credited.
	if tok := d.token(t); strings.HasPrefix(tok, "shop-") {
		t.Fatal("the device lost its tracker cookie")
	}
	second := s.order(t, d, "", "", line{"hat", 1, "40.00", ""})
	s.settle(t)
	s.wantAttribution(t, second, "device", p.ID)
	if b := s.balance(t, p.ID); b.Pending != "6.50" {
		t.Fatalf("partner balance %+v, want 6.50 pending from both orders", b)
	}
	// A browser without that cookie is not credited.
	other := s.order(t, s.newDevice(t), "", "", line{"hat", 1, "40.00", ""})
	s.settle(t)
	s.wantAttribution(t, other, "none", 0)
}

// shortBindingWindow sets the program's binding window to 2 s for the test,
// so that "later than the binding window" fits in a test, and restores it.
func (s *stack) shortBindingWindow(t *testing.T) {
	t.Helper()
	var prog struct {
		BindingWindow string `json:"binding_window"`
	}
	s.admin(t, "GET", "/api/admin/program", nil, http.StatusOK, &prog)
	s.admin(t, "PUT", "/api/admin/program", map[string]any{"binding_window": "2s"}, http.StatusOK, nil)
	t.Cleanup(func() {
		if err := s.adminDo("PUT", "/api/admin/program", map[string]any{"binding_window": prog.BindingWindow}, http.StatusOK, nil); err != nil {
			t.Error(err)
		}
	})
}

// sharedDevice is a family computer that came through p's link: the first
// person signs up at once (bound to p), the second logs in after the
// binding window (not bound). It returns the device and the two people.
func (s *stack) sharedDevice(t *testing.T, p partner) (*device, string, string) {
	t.Helper()
	family := s.newDevice(t)
	family.visit(t, p.Link, s.shopURL+"/p/shoe")
	first := "cust-" + randomHex(6)
	s.identify(t, family, first, "")
	time.Sleep(3 * time.Second) // past the binding window of the click
	second := "cust-" + randomHex(6)
	s.identify(t, family, second, "")
	return family, first, second
}

func TestFlowOtherPersonOnTheSameDeviceCreditedThroughDevice(t *testing.T) {
	s := theStack.get(t)
	s.shortBindingWindow(t)
	p := s.newPartner(t, "Elif", "shoe")
	family, first, second := s.sharedDevice(t, p)
	id := s.order(t, family, second, "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, id, "device", p.ID)
	// The first person, within the window, is bound; the second is not:
	// the credit comes from the device.
	var b struct {
		PartnerID int64 `json:"partner_id"`
	}
	s.admin(t, "GET", "/api/admin/customers/"+first+"/partner", nil, http.StatusOK, &b)
	if b.PartnerID != p.ID {
		t.Fatalf("the first person on the device is bound to %d, want %d", b.PartnerID, p.ID)
	}
	s.admin(t, "GET", "/api/admin/customers/"+second+"/partner", nil, http.StatusNotFound, nil)
	if b := s.balance(t, p.ID); b.Pending != "2.50" {
		t.Fatalf("partner balance %+v, want 2.50 pending", b)
	}
}

func TestFlowOtherPersonsOwnDeviceNotCreditedUntilLinked(t *testing.T) {
	s := theStack.get(t)
	s.shortBindingWindow(t)
	p := s.newPartner(t, "Can", "shoe")
	_, _, second := s.sharedDevice(t, p)
	// On their own device, without a link: nobody is credited.
	own := s.newDevice(t)
	s.identify(t, own, second, "")
	before := s.order(t, own, second, "", line{"hat", 1, "40.00", ""})
	s.settle(t)
	s.wantAttribution(t, before, "none", 0)

	// Then that device comes through the partner's link.
	own.visit(t, p.Link, s.shopURL+"/p/shoe")
	after := s.order(t, own, second, "", line{"hat", 1, "40.00", ""})
	s.settle(t)
	s.wantAttribution(t, after, "device", p.ID)
	if b := s.balance(t, p.ID); b.Pending != "4.00" {
		t.Fatalf("partner balance %+v, want 4.00 pending (only the order after the link)", b)
	}
}

func TestFlowAdminAttachesAndRemovesPartnerOnOrder(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Umut", "")
	id := s.order(t, s.newDevice(t), "", "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, id, "none", 0)

	s.admin(t, "POST", "/api/admin/orders/"+id+"/partner", map[string]any{"partner_id": p.ID, "reason": "phone order"}, http.StatusAccepted, nil)
	s.settle(t)
	s.wantAttribution(t, id, "order_override", p.ID)
	if got := s.commissionsByLine(t, id, p.ID); fmt.Sprint(got) != "map[1:250]" {
		t.Fatalf("commissions of %s after the attach %v, want line 1: 250", id, got)
	}
	if b := s.balance(t, p.ID); b.Pending != "2.50" {
		t.Fatalf("partner balance after the attach %+v, want 2.50 pending", b)
	}

	s.admin(t, "DELETE", "/api/admin/orders/"+id+"/partner", map[string]any{"partner_id": p.ID, "reason": "mistake"}, http.StatusAccepted, nil)
	s.settle(t)
	s.wantAttribution(t, id, "order_override", 0)
	if got := s.commissionsByLine(t, id, p.ID); got["1"] != 0 {
		t.Fatalf("commissions of %s after the removal %v, want nothing left", id, got)
	}
	if b := s.balance(t, p.ID); b.Pending != "0.00" {
		t.Fatalf("partner balance after the removal %+v, want 0.00 pending", b)
	}
}

func TestFlowAdminAttachesAndDetachesCustomer(t *testing.T) {
	s := theStack.get(t)
	p := s.newPartner(t, "Zeynep", "")
	customer := "cust-" + randomHex(6)
	s.admin(t, "GET", "/api/admin/customers/"+customer+"/partner", nil, http.StatusNotFound, nil)
	s.admin(t, "POST", "/api/admin/customers/"+customer+"/partner", map[string]any{"partner_id": p.ID}, http.StatusOK, nil)
	var b struct {
		PartnerID int64  `json:"partner_id"`
		Source    string `json:"source"`
	}
	s.admin(t, "GET", "/api/admin/customers/"+customer+"/partner", nil, http.StatusOK, &b)
	if b.PartnerID != p.ID || b.Source != "admin" {
		t.Fatalf("binding after the attach %+v, want partner %d by admin", b, p.ID)
	}
	d := s.newDevice(t)
	s.identify(t, d, customer, "")
	bound := s.order(t, d, customer, "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, bound, "customer_binding", p.ID)

	s.admin(t, "DELETE", "/api/admin/customers/"+customer+"/partner", map[string]any{"partner_id": p.ID}, http.StatusOK, nil)
	s.admin(t, "GET", "/api/admin/customers/"+customer+"/partner", nil, http.StatusNotFound, nil)
	after := s.order(t, d, customer, "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, after, "none", 0)
	// The order from before the detach keeps its commission.
	if b := s.balance(t, p.ID); b.Pending != "2.50" {
		t.Fatalf("partner balance %+v, want 2.50 pending from the order before the detach", b)
	}
}

func TestFlowPartnerClaimsUnboundCustomerByEmail(t *testing.T) {
	s := theStack.get(t)
	// Two customers known to the shop: one unbound, one bound to another
	// partner through a link.
	other := s.newPartner(t, "Onur", "")
	unbound, unboundEmail := "cust-"+randomHex(6), "free"+randomHex(4)+"@customers.test"
	s.identify(t, s.newDevice(t), unbound, unboundEmail)
	bound, boundEmail := "cust-"+randomHex(6), "taken"+randomHex(4)+"@customers.test"
	bd := s.newDevice(t)
	bd.visit(t, s.trackerURL+"/"+other.Slug, s.shopURL)
	s.identify(t, bd, bound, boundEmail)
	s.settle(t)
	s.admin(t, "GET", "/api/admin/customers/"+bound+"/partner", nil, http.StatusOK, nil)

	// A partner applies through the panel, the admin approves through the
	// API, the partner logs in and claims through the panel.
	pb := s.newPanel(t)
	slug := "claimer" + randomHex(3)
	email := slug + "@partners.test"
	password := "correct-horse-" + randomHex(4)
	pb.submit(t, "/apply", "/apply", url.Values{"name": {"Claimer"}, "email": {email}, "slug": {slug},
		"website": {"https://blog.example.com"}, "message": {"hi"}, "password": {password}})
	var apps []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	var list struct {
		Applications []struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
		} `json:"applications"`
	}
	s.admin(t, "GET", "/api/admin/applications", nil, http.StatusOK, &list)
	apps = list.Applications
	var appID int64
	for _, a := range apps {
		if a.Email == email {
			appID = a.ID
		}
	}
	if appID == 0 {
		t.Fatalf("application of %s not listed: %+v", email, apps)
	}
	var approved struct {
		ID int64 `json:"id"`
	}
	s.admin(t, "POST", fmt.Sprintf("/api/admin/applications/%d/approve", appID), nil, http.StatusOK, &approved)
	pb.submit(t, "/login", "/login", url.Values{"email": {email}, "password": {password}})

	page := pb.submit(t, "/partner/customers", "/partner/customers", url.Values{"email": {unboundEmail}})
	if !strings.Contains(page, "Customer linked to you.") {
		t.Fatalf("claiming the unbound customer answered:\n%s", excerpt(page))
	}
	var b struct {
		PartnerID int64  `json:"partner_id"`
		Source    string `json:"source"`
	}
	s.admin(t, "GET", "/api/admin/customers/"+unbound+"/partner", nil, http.StatusOK, &b)
	if b.PartnerID != approved.ID || b.Source != "claim" {
		t.Fatalf("binding after the claim %+v, want partner %d by claim", b, approved.ID)
	}

	page = pb.submit(t, "/partner/customers", "/partner/customers", url.Values{"email": {boundEmail}})
	if !strings.Contains(page, "no unbound customer with that e-mail") {
		t.Fatalf("claiming the bound customer answered:\n%s", excerpt(page))
	}
	s.admin(t, "GET", "/api/admin/customers/"+bound+"/partner", nil, http.StatusOK, &b)
	if b.PartnerID != other.ID {
		t.Fatalf("binding of the bound customer after a refused claim %+v, want partner %d", b, other.ID)
	}

	// The claim pays: the claimed customer's next order, on a device with
	// no link, goes to the claiming partner.
	id := s.order(t, s.newDevice(t), unbound, "", line{"shoe", 1, "25.00", ""})
	s.settle(t)
	s.wantAttribution(t, id, "customer_binding", approved.ID)
}

// panel is a browser on the dashboard's panels, with its session cookie.
type panel struct {
	s *stack
	c *http.Client
}

func (s *stack) newPanel(t *testing.T) *panel {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &panel{s: s, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get loads a page and returns its body.
func (p *panel) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := p.c.Get(p.s.dashURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d:\n%s", path, resp.StatusCode, excerpt(string(body)))
	}
	return string(body)
}

// submit loads the form page, posts the form with its CSRF token, follows
// the redirect and returns the page it lands on.
func (p *panel) submit(t *testing.T, formPage, action string, form url.Values) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.get(t, formPage))
	if m == nil {
		t.Fatalf("page %s has no CSRF field", formPage)
	}
	form.Set("csrf", m[1])
	resp, err := p.c.PostForm(p.s.dashURL+action, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d:\n%s", action, resp.StatusCode, excerpt(string(body)))
	}
	return string(body)
}

func excerpt(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "..."
	}
	return s
}
