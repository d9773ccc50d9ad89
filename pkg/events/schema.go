package events

import "embed"

// SchemaFS holds the JSON Schemas (draft 2020-12) of every event, as
// schema/<name>.schema.json (identity, order, click, commission,
// store_credit, dlq), for serving to shop developers. Each file's
// "examples" are checked against the schema and the Go decoders in the
// tests; see schema/README.md.
//
//go:embed schema/*.schema.json
var SchemaFS embed.FS
