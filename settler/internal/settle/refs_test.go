package settle

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestDerivedRefs pins the ledger refs of commissions and group accruals:
// plain "/"-joined when short and unambiguous, else a marked hash.
func TestDerivedRefs(t *testing.T) {
	hashed := func(mark, s string) string {
		sum := sha256.Sum256([]byte(s))
		return mark + hex.EncodeToString(sum[:20])
	}
	long := strings.Repeat("x", 99)
	for _, tc := range []struct{ got, want string }{
		{ledgerRef("o1", "l1", 2), "o1/l1/2"},
		{groupRef("o1", 2), "o1/2"},
		{ledgerRef("o/1", "l1", 1), hashed("h", "o/1/l1/1")},
		{ledgerRef("o1", "l/1", 1), hashed("h", "o1/l/1/1")},
		{groupRef("o/1", 1), hashed("g", "o/1/1")},
		{ledgerRef(long, "l", 1), hashed("h", long+"/l/1")},
		{groupRef(long[1:], 1), long[1:] + "/1"},    // 100 bytes
		{groupRef(long, 1), hashed("g", long+"/1")}, // 101
	} {
		if tc.got != tc.want {
			t.Errorf("ref %q, want %q", tc.got, tc.want)
		}
	}
}
