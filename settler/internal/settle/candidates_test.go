package settle

import (
	"encoding/json"
	"testing"
	"time"
)

// appendCandidates writes what json.Marshal writes, for every field set or
// left out and strings that need escaping.
func TestAppendCandidates(t *testing.T) {
	p := int64(42)
	at := time.Date(2026, 12, 1, 15, 4, 5, 120_000_000, time.UTC)
	zoned := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+30*60))
	for _, cs := range [][]candidate{
		nil,
		{},
		{{Rule: RuleOverride, Reason: "no override"}},
		{{Rule: RuleOverride, PartnerID: &p, OverrideID: 7}, {Rule: RuleBinding, PartnerID: &p, BindingID: 9}},
		{{Rule: RuleDevice, PartnerID: &p, ClickID: "0190c3a4-5b6c-7d8e-9f00-112233445566", At: &at}},
		{{Rule: RuleDevice, PartnerID: &p, At: &zoned, Reason: `quote " backslash \ <tag> & tab	é` + "\x00\u2028"}},
		{{Rule: "", ClickID: "\xff"}},
	} {
		want, err := json.Marshal(cs)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendCandidates([]byte("x"), cs); string(got) != "x"+string(want) {
			t.Errorf("appendCandidates(%+v)\n%s\nwant\n%s", cs, got[1:], want)
		}
	}
}

func FuzzAppendCandidates(f *testing.F) {
	f.Add("device", int64(3), true, "0190c3a4-5b6c-7d8e-9f00-112233445566", int64(1764601445), int32(5), int64(0), int64(0), "")
	f.Add("order_override", int64(0), false, "", int64(0), int32(0), int64(0), int64(8), "no <override> & \"x\"")
	f.Fuzz(func(t *testing.T, rule string, partner int64, hasPartner bool, click string, sec int64, nsec int32, binding, override int64, reason string) {
		c := candidate{Rule: rule, ClickID: click, BindingID: binding, OverrideID: override, Reason: reason}
		if hasPartner {
			c.PartnerID = &partner
		}
		if sec != 0 {
			at := time.Unix(sec%253402300799, int64(nsec)%1e9).UTC()
			if at.Year() < 0 || at.Year() > 9999 {
				return
			}
			c.At = &at
		}
		cs := []candidate{c, {Rule: RuleDevice, Reason: reason}}
		want, err := json.Marshal(cs)
		if err != nil {
			return
		}
		if got := appendCandidates(nil, cs); string(got) != string(want) {
			t.Fatalf("appendCandidates(%+v)\n%s\nwant\n%s", cs, got, want)
		}
	})
}
