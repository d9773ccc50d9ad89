package storage

import (
	"errors"
	"testing"
)

func TestPageNormalize(t *testing.T) {
	f := func(in, want Page) {
		t.Helper()
		if got := in.Normalize(); got != want {
			t.Errorf("Page%+v.Normalize() = %+v, want %+v", in, got, want)
		}
	}
	f(Page{}, Page{Number: 1, Size: DefaultPageSize})                         // defaults
	f(Page{Number: -3, Size: -1}, Page{Number: 1, Size: DefaultPageSize})     // negative input
	f(Page{Number: 2, Size: 10_000}, Page{Number: 2, Size: MaxPageSize})      // size capped
	f(Page{Number: 1 << 40, Size: 10}, Page{Number: MaxPageNumber, Size: 10}) // OFFSET bounded
	if off := (Page{Number: 3, Size: 50}).Offset(); off != 100 {
		t.Errorf("Offset = %d, want 100", off)
	}
}

func TestValidateSlug(t *testing.T) {
	f := func(slug string, ok bool) {
		t.Helper()
		if err := ValidateSlug(slug); (err == nil) != ok {
			t.Errorf("ValidateSlug(%q) = %v, want ok=%v", slug, err, ok)
		}
	}
	f("serdar", true)
	f("a", true)
	f("ayla-k_2", true)
	f("-ayla", false) // no separator at the ends
	f("ayla-", false)
	f("Ayla", false) // stored lower-case: callers lower-case first
	f("", false)
	f("a234567890123456789012345678901234567890x", false) // 41 bytes
	for _, r := range ReservedSlugs {
		f(r, false)
	}
}

func TestFieldErrorUnwrap(t *testing.T) {
	err := error(&FieldError{Field: "slug", Msg: "is already taken", Err: ErrConflict})
	if !errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || err.Error() != "slug: is already taken" {
		t.Fatalf("FieldError = %v", err)
	}
}
