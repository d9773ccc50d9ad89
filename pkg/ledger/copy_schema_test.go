package ledger

import (
	"context"
	"testing"

	"github.com/openaff/affiliate/pkg/pgcopy"
)

// TestCopyTablesMatchSchema: the column types declared for the binary COPY
// of transfers, postings and pending rows are the migrated tables' types.
func TestCopyTablesMatchSchema(t *testing.T) {
	_, pool := newLedger(t, 2)
	for _, tab := range []*pgcopy.Table{transferTable, postingTable, pendingTable} {
		if err := tab.Check(context.Background(), pool); err != nil {
			t.Error(err)
		}
	}
}
