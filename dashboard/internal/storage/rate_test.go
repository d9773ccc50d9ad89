package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestRateValidateTarget(t *testing.T) {
	f := func(r Rate, field string) {
		t.Helper()
		err := r.validateTarget()
		var fe *FieldError
		switch {
		case field == "" && err != nil:
			t.Errorf("Rate%+v.validateTarget() = %v, want nil", r, err)
		case field != "" && (!errors.As(err, &fe) || fe.Field != field):
			t.Errorf("Rate%+v.validateTarget() = %v, want a FieldError on %q", r, err, field)
		}
	}
	f(Rate{ProductID: "p1"}, "")                             // program-wide product rate
	f(Rate{CategoryID: "shoes", PartnerID: 7}, "")           // partner+category rate
	f(Rate{ProductID: strings.Repeat("x", 200)}, "")         // at the schema's limit
	f(Rate{}, "product_id")                                  // neither
	f(Rate{ProductID: "p1", CategoryID: "c"}, "category_id") // both
	f(Rate{ProductID: strings.Repeat("x", 201)}, "product_id")
	f(Rate{CategoryID: strings.Repeat("x", 201)}, "category_id")
	f(Rate{ProductID: strings.Repeat("é", 200)}, "") // characters, not bytes
	f(Rate{ProductID: "p\x00"}, "product_id")        // Postgres text cannot hold NUL
	f(Rate{CategoryID: "\xff"}, "category_id")       // not UTF-8
	f(Rate{ProductID: "p\n1"}, "product_id")         // control character
}
