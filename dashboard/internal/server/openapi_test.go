package server

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/openaff/affiliate/dashboard"
	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/ui"
)

// TestOpenAPIMatchesRoutes checks openapi.yaml against the registered
// routes (admin API and partner API): the same (method, path) set, and
// every operation documents 401.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw := dashboard.OpenAPI
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.yaml is not YAML: %v", err)
	}
	spec, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			m, _ := op.(map[string]any)
			resp, _ := m["responses"].(map[string]any)
			if _, ok := resp["401"]; !ok {
				t.Errorf("%s does not document 401", key)
			}
		}
	}
	registered := map[string]bool{}
	for _, r := range append(api.Routes(api.Deps{}), ui.PartnerAPIRoutes(nil)...) {
		registered[r.Method+" "+r.Path] = true
	}
	var missing, extra []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.yaml documents routes that do not exist: %v", extra)
	}
}
