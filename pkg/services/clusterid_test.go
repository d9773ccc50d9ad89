package services

import "testing"

// TestClusterIDNeverLooksLikeAFlag: 1 random id in 64 would start with '-'
// and make StorageTool refuse "-t <id>"; 5000 draws see about 78 of them.
func TestClusterIDNeverLooksLikeAFlag(t *testing.T) {
	for range 5000 {
		id, err := clusterID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("cluster id %q", id)
		}
	}
}
