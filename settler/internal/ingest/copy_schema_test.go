package ingest

import (
	"context"
	"testing"
)

// TestCopyTableMatchesSchema: the column types declared for the binary COPY
// of order lines are the migrated table's types.
func TestCopyTableMatchesSchema(t *testing.T) {
	if err := lineTable.Check(context.Background(), newPool(t)); err != nil {
		t.Error(err)
	}
}
