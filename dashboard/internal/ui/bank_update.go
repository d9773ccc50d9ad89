package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type bankUpdate struct{ *UI }

// bankForm is the name under which a refused bank form is kept.
const bankForm = "bank"

// ServeHTTP saves the partner's bank details; the IBAN must pass its
// mod-97 checksum. A refused form is shown again with what was typed.
func (h bankUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/bank"
	s, _ := sessionOf(r)
	typed := url.Values{}
	for _, k := range []string{"holder", "iban", "bic"} {
		typed.Set(k, r.PostFormValue(k))
	}
	refuse := func(msg string) {
		h.keepForm(w, r, bankForm, back, typed)
		h.redirect(w, r, back, "Error: "+msg)
	}
	holder := strings.TrimSpace(r.PostFormValue("holder"))
	if holder == "" || len(holder) > 200 {
		refuse("account holder must be 1 to 200 characters")
		return
	}
	iban, err := auth.NormalizeIBAN(r.PostFormValue("iban"))
	if err != nil {
		refuse(err.Error())
		return
	}
	bic := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("bic")), " ", ""))
	if bic != "" && len(bic) != 8 && len(bic) != 11 {
		refuse("BIC must be 8 or 11 characters")
		return
	}
	for _, c := range bic {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			refuse("BIC may hold only letters and digits")
			return
		}
	}
	if err := h.Store.SetBankAccount(r.Context(), s.User.PartnerID, storage.BankAccount{Holder: holder, IBAN: iban, BIC: bic}); err != nil {
		if msg, ok := formError(err); ok {
			refuse(msg)
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.redirect(w, r, back, "Bank details saved.")
}

// Kept forms: a refused form redirects back to its page (POST, redirect,
// GET, as every panel form) with the error as flash, and what the user
// typed rides along in a short-lived cookie, so that the page shows it
// again instead of the stored values or empty fields. Only forms without
// secrets are kept. The cookie is scoped to the form's page, lives a
// minute, is read once, and is signed with the session's secret: another
// session (a different user on the same browser) or a forged cookie gets
// nothing.
const (
	keptFormPrefix   = "aff_form_"
	keptFormMaxAge   = 60
	keptFieldMaxSize = 256 // bytes kept of each field; the cookie stays well under 4 KiB
)

// keepForm stores the typed values of the form name for its page path.
func (u *UI) keepForm(w http.ResponseWriter, r *http.Request, name, path string, typed url.Values) {
	s, ok := sessionOf(r)
	if !ok {
		return
	}
	kept := url.Values{}
	for k, vs := range typed {
		if len(vs) > 0 {
			kept.Set(k, trimMax(vs[0], keptFieldMaxSize))
		}
	}
	enc := kept.Encode()
	val := base64.RawURLEncoding.EncodeToString([]byte(enc)) + "." + keptFormMAC(s.CSRFSecret, name, enc)
	http.SetCookie(w, &http.Cookie{Name: keptFormPrefix + name, Value: val, Path: path, MaxAge: keptFormMaxAge,
		HttpOnly: true, Secure: u.CookieSecure, SameSite: http.SameSiteLaxMode})
}

// keptForm returns, once, the values keepForm stored for the form name
// in this session, or nil.
func (u *UI) keptForm(w http.ResponseWriter, r *http.Request, name, path string) url.Values {
	c, err := r.Cookie(keptFormPrefix + name)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: keptFormPrefix + name, Path: path, MaxAge: -1,
		HttpOnly: true, Secure: u.CookieSecure, SameSite: http.SameSiteLaxMode})
	s, ok := sessionOf(r)
	if !ok {
		return nil
	}
	b64, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || !hmac.Equal([]byte(mac), []byte(keptFormMAC(s.CSRFSecret, name, string(raw)))) {
		return nil
	}
	vals, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil
	}
	return vals
}

func keptFormMAC(secret []byte, name, enc string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kept-form\x00" + name + "\x00" + enc))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
