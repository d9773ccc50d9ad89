package settle

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/pgcopy"
	"github.com/openaff/affiliate/pkg/testenv"
)

// TestCopyTablesMatchSchema: the column types declared for the binary COPY
// of attributions and commissions are the migrated tables' types.
func TestCopyTablesMatchSchema(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, tab := range []*pgcopy.Table{attributionTable, commissionTable} {
		if err := tab.Check(context.Background(), pool); err != nil {
			t.Error(err)
		}
	}
}
