package ui

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// inputValue returns the value of the input named name in a page.
func inputValue(body, name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return "<no input " + name + ">"
	}
	return m[1]
}

// TestRefusedFormsKeepInput: a refused bank form or payout request shows
// the error with what the partner typed (it used to come back empty, and
// the next try failed on the holder), once, and only to that session.
func TestRefusedFormsKeepInput(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")

	typed := url.Values{"holder": {"Ayla Example"}, "iban": {"DE89 3704 0044 0532 0130 01"}, "bic": {"COBADEFFXXX"}}
	s, loc := c.post("/partner/bank", typed)
	if s != http.StatusSeeOther || loc != "/partner/bank" {
		t.Fatalf("refused bank form: %d %q", s, loc)
	}
	_, body, _ := c.get(loc)
	if !strings.Contains(body, "Error: IBAN checksum") {
		t.Error("no error shown")
	}
	for k, want := range map[string]string{"holder": "Ayla Example", "iban": "DE89 3704 0044 0532 0130 01", "bic": "COBADEFFXXX"} {
		if got := inputValue(body, k); got != want {
			t.Errorf("bank form %s = %q, want %q", k, got, want)
		}
	}
	// Shown once: reloading shows the stored details (none).
	_, body, _ = c.get("/partner/bank")
	if got := inputValue(body, "holder"); got != "" {
		t.Errorf("kept input shown again: holder %q", got)
	}
	// With details stored, a refused change shows what was typed, not the
	// stored values; nothing is saved.
	if err := f.store.SetBankAccount(context.Background(), a, storage.BankAccount{Holder: "Old Holder", IBAN: "GB82WEST12345698765432"}); err != nil {
		t.Fatal(err)
	}
	c.post("/partner/bank", url.Values{"holder": {"New Holder"}, "iban": {"DE89370400440532013000"}, "bic": {"BAD"}})
	_, body, _ = c.get("/partner/bank")
	if !strings.Contains(body, "BIC must be 8 or 11") || inputValue(body, "holder") != "New Holder" || inputValue(body, "bic") != "BAD" {
		t.Errorf("refused change: holder %q bic %q", inputValue(body, "holder"), inputValue(body, "bic"))
	}
	if b, _ := f.store.BankAccount(context.Background(), a); b.Holder != "Old Holder" {
		t.Fatalf("a refused form saved %+v", b)
	}
	// The kept values are bound to the session: another login on the same
	// browser (the cookie carried over) does not see them.
	c.post("/partner/bank", url.Values{"holder": {"Secretive"}, "iban": {"XX00"}})
	kept := keptCookie(t, c, "/partner/bank")
	f.partner("bora")
	other := f.client()
	other.login("bora@example.com", "partner-pw-bora")
	u, _ := url.Parse(f.srv.URL + "/partner/bank")
	other.http.Jar.SetCookies(u, []*http.Cookie{kept})
	_, body, _ = other.get("/partner/bank")
	if strings.Contains(body, "Secretive") {
		t.Error("another session was shown the kept input")
	}

	// Payout request: the typed amount comes back instead of the available
	// balance.
	if _, err := f.store.CreateAdjustment(context.Background(), f.ledger, storage.Adjustment{PartnerID: a, AmountMinor: 1000, Currency: "EUR", Reason: "x", Key: "adj-1"}, 0); err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE program_settings SET min_payout_minor = 500`)
	c.get("/partner/payouts")
	s, loc = c.post("/partner/payouts", url.Values{"amount": {"4.00"}, "request_id": {"payout-req-00000001"}})
	if s != http.StatusSeeOther {
		t.Fatalf("refused payout: %d", s)
	}
	_, body, _ = c.get(loc)
	if !strings.Contains(body, "is below the minimum") || inputValue(body, "amount") != "4.00" {
		t.Errorf("refused payout: amount %q", inputValue(body, "amount"))
	}
	if s, loc = c.post("/partner/payouts", url.Values{"amount": {"12,5x"}, "request_id": {"payout-req-00000002"}}); s != http.StatusSeeOther {
		t.Fatalf("unparsable payout: %d", s)
	}
	_, body, _ = c.get(loc)
	if inputValue(body, "amount") != "12,5x" {
		t.Errorf("unparsable amount: %q", inputValue(body, "amount"))
	}
	_, body, _ = c.get("/partner/payouts")
	if inputValue(body, "amount") != "10.00" {
		t.Errorf("after the kept amount: %q, want the available 10.00", inputValue(body, "amount"))
	}
}

// keptCookie returns the kept-form cookie the client holds for path.
func keptCookie(t *testing.T, c *client, path string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(c.f.srv.URL + path)
	for _, ck := range c.http.Jar.Cookies(u) {
		if strings.HasPrefix(ck.Name, "aff_form_") {
			return &http.Cookie{Name: ck.Name, Value: ck.Value, Path: path}
		}
	}
	t.Fatal("no kept-form cookie")
	return nil
}
