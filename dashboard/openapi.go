// Package dashboard holds the OpenAPI description of the admin JSON API,
// embedded so the binary serves it at GET /api/openapi.yaml.
package dashboard

import _ "embed"

// OpenAPI is the content of openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
