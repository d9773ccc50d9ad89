package auth

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestNormalizeIBAN(t *testing.T) {
	f := func(in, want string, wantErr error) {
		t.Helper()
		got, err := NormalizeIBAN(in)
		if !errors.Is(err, wantErr) || got != want {
			t.Errorf("NormalizeIBAN(%q) = %q, %v, want %q, %v", in, got, err, want, wantErr)
		}
	}
	// The example IBANs of the ECBS registry.
	f("DE89 3704 0044 0532 0130 00", "DE89370400440532013000", nil)
	f("gb82west12345698765432", "GB82WEST12345698765432", nil)
	f("NL91ABNA0417164300", "NL91ABNA0417164300", nil)
	// One digit changed: the checksum catches it.
	f("DE89370400440532013001", "", ErrIBANChecksum)
	// Swapped check digits.
	f("DE98370400440532013000", "", ErrIBANChecksum)
	// Syntax: too short, punctuation, digits where the country goes.
	f("DE89", "", ErrIBANSyntax)
	f("DE89-3704-0044-0532-0130-00", "", ErrIBANSyntax)
	f("1289370400440532013000", "", ErrIBANSyntax)
	f("", "", ErrIBANSyntax)
}

func FuzzNormalizeIBAN(f *testing.F) {
	f.Add("DE89 3704 0044 0532 0130 00")
	f.Add("GB82WEST12345698765432")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeIBAN(s)
		if err != nil {
			return
		}
		// A valid IBAN stays valid and unchanged when normalised again.
		again, err := NormalizeIBAN(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeIBAN(%q) = %q, %v; not idempotent", got, again, err)
		}
	})
}

func TestBearerMatches(t *testing.T) {
	f := func(header, want string, ok bool) {
		t.Helper()
		if got := BearerMatches(header, want); got != ok {
			t.Errorf("BearerMatches(%q, %q) = %v, want %v", header, want, got, ok)
		}
	}
	f("Bearer secret-token", "secret-token", true)
	f("bearer secret-token", "secret-token", true) // scheme is case-insensitive
	f("Bearer secret-tokeN", "secret-token", false)
	f("Bearer ", "secret-token", false)
	f("secret-token", "secret-token", false)
	f("Basic secret-token", "secret-token", false)
	f("Bearer ", "", false) // no token configured: nothing matches
	f("Bearer x", "", false)
}

func TestIPPrefix(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := IPPrefix(in); got != want {
			t.Errorf("IPPrefix(%q) = %q, want %q", in, got, want)
		}
	}
	f("192.0.2.77:5555", "192.0.2.0/24")
	f("[2001:db8:1:2::1]:443", "2001:db8:1::/48")
	f("::ffff:192.0.2.9", "192.0.2.0/24")
	f("garbage", "unknown")
}

func TestHasher(t *testing.T) {
	h := Hasher{Cost: 4}
	hash, err := h.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check(hash, "correct horse battery") {
		t.Error("Check(right password) = false")
	}
	if h.Check(hash, "correct horse batterY") {
		t.Error("Check(wrong password) = true")
	}
	if h.Check("", "anything") {
		t.Error("Check(no hash) = true")
	}
	if _, err := h.Hash("short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("Hash(short) error = %v, want ErrWeakPassword", err)
	}
}

// An unknown user's comparison runs at the cost real hashes have, not at
// bcrypt's minimum (which answered an unknown e-mail ~250 times faster).
func TestDummyHashCost(t *testing.T) {
	for _, cost := range []int{4, 6} {
		got, err := bcrypt.Cost(dummyHash(cost))
		if err != nil || got != cost {
			t.Errorf("dummyHash(%d) has cost %d (%v)", cost, got, err)
		}
	}
	if got := (Hasher{}).cost(); got != DefaultCost {
		t.Errorf("zero Hasher's cost = %d, want DefaultCost %d", got, DefaultCost)
	}
}
