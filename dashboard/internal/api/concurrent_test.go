package api

import (
	"fmt"
	"sync"
	"testing"
)

// Two PATCHes of different fields of one partner at the same time both
// take effect: each applies to the partner as it is when it commits (the
// handler read the whole partner, then wrote every field back, so a rate
// change undid a concurrent suspension in 25 of 40 rounds).
func TestConcurrentPartnerPatches(t *testing.T) {
	f := newFixture(t)
	for i := range 40 {
		id := f.partner(fmt.Sprint("P", i), fmt.Sprint("p", i))
		path := fmt.Sprint("/api/admin/partners/", id)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() { codes[0], _ = f.call("PATCH", path, `{"status":"suspended"}`) })
		wg.Go(func() { codes[1], _ = f.call("PATCH", path, `{"default_rate":"5"}`) })
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("round %d: PATCH answers %v, want 200 200", i, codes)
		}
		if _, out := f.call("GET", path, ""); out["status"] != "suspended" || out["default_rate"] != "5" {
			t.Fatalf("round %d: both PATCHes answered 200, partner now status=%v default_rate=%v, want suspended and 5",
				i, out["status"], out["default_rate"])
		}
	}
}

// The same for the program settings: two PUTs of different settings at
// once both take effect (7 of 40 rounds lost one before).
func TestConcurrentProgramPuts(t *testing.T) {
	f := newFixture(t)
	for i := range 40 {
		f.expect("PUT", "/api/admin/program", `{"reserve_percent":"10","auto_approve_after":"0s"}`, 200, "")
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() { codes[0], _ = f.call("PUT", "/api/admin/program", `{"reserve_percent":"20"}`) })
		wg.Go(func() { codes[1], _ = f.call("PUT", "/api/admin/program", `{"auto_approve_after":"72h0m0s"}`) })
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("round %d: PUT answers %v, want 200 200", i, codes)
		}
		if _, out := f.call("GET", "/api/admin/program", ""); out["reserve_percent"] != "20" || out["auto_approve_after"] != "72h0m0s" {
			t.Fatalf("round %d: reserve_percent=%v auto_approve_after=%v, want 20 and 72h0m0s", i, out["reserve_percent"], out["auto_approve_after"])
		}
	}
}
