package events

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// decoders maps each schema file to the Go decoder of the same event (for
// shop events the strict one: the schemas describe what a shop submits).
var decoders = map[string]func([]byte) error{
	"identity":     func(b []byte) error { _, err := DecodeIdentityStrict(b); return err },
	"order":        func(b []byte) error { _, err := DecodeOrderStrict(b); return err },
	"click":        func(b []byte) error { _, err := DecodeClick(b); return err },
	"commission":   func(b []byte) error { _, err := DecodeCommission(b); return err },
	"store_credit": func(b []byte) error { _, err := DecodeStoreCredit(b); return err },
	"dlq":          func(b []byte) error { _, err := DecodeDLQRecord(b); return err },
}

func compileSchemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time, ipv4 and ipv6 are assertions, not annotations
	out := map[string]*jsonschema.Schema{}
	for name := range decoders {
		path := "schema/" + name + ".schema.json"
		b, err := fs.ReadFile(SchemaFS, path)
		if err != nil {
			t.Fatalf("schema for %s: %v", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := c.AddResource(path, doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if out[name], err = c.Compile(path); err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
	}
	return out
}

// TestSchemaExamples keeps schemas and code in step: every example in every
// schema file validates against its schema and decodes with the Go decoder.
func TestSchemaExamples(t *testing.T) {
	schemas := compileSchemas(t)
	files, err := fs.Glob(SchemaFS, "schema/*.schema.json")
	if err != nil || len(files) != len(decoders) {
		t.Fatalf("schema files %v, want one per decoder (%d)", files, len(decoders))
	}
	for name, sch := range schemas {
		b, _ := fs.ReadFile(SchemaFS, "schema/"+name+".schema.json")
		var file struct {
			Examples []json.RawMessage `json:"examples"`
		}
		if err := json.Unmarshal(b, &file); err != nil {
			t.Fatal(err)
		}
		if len(file.Examples) == 0 {
			t.Fatalf("%s: no examples", name)
		}
		for i, ex := range file.Examples {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(ex))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%s example %d fails the schema: %v", name, i, err)
			}
			if err := decoders[name](ex); err != nil {
				t.Errorf("%s example %d fails the decoder: %v", name, i, err)
			}
		}
	}
}

// TestSchemaRejectsWhatDecoderRejects checks, for the rules a schema can
// express, that both refuse the same bad events.
func TestSchemaRejectsWhatDecoderRejects(t *testing.T) {
	schemas := compileSchemas(t)
	f := func(name, valid, old, new string) {
		t.Helper()
		in := replace(t, valid, old, new)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if schemas[name].Validate(inst) == nil {
			t.Errorf("schema %s accepts %s", name, in)
		}
		if decoders[name]([]byte(in)) == nil {
			t.Errorf("decoder %s accepts %s", name, in)
		}
	}
	f("order", validOrderJSON, `"v":1`, `"v":2`)
	f("order", validOrderJSON, `"order.placed"`, `"order.shipped"`)
	f("order", validOrderJSON, `"shipping_fee"`, `"shiping_fee"`)
	f("order", validOrderJSON, `"quantity":2`, `"quantity":0`)
	f("order", validOrderJSON, `"quantity":2`, `"quantity":1.5`)
	f("order", validOrderJSON, `"149.90"`, `149.90`)
	f("order", validOrderJSON, `"149.90"`, `"1.499e2"`)
	f("order", validOrderJSON, `"149.90"`, `"-149.90"`)
	f("order", validOrderJSON, `"currency":"EUR"`, `"currency":"eur"`)
	f("order", validOrderJSON, `"2026-11-25T10:00:00Z"`, `"25/11/2026"`)
	f("order", validOrderJSON, `"order_id":"o-1",`, ``)
	f("order", validOrderJSON, `"shipping_fee":"4.95"`, `"shipping_fee":"4.95","amount":"1.00"`)
	f("order", validOrderJSON, `"product_id":"p2",`, ``)
	f("order", `{"v":1,"event_id":"e","type":"order.refunded","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"EUR"}`, `"currency":"EUR"`, `"currency":"EUR","amount":"0"`)
	f("order", `{"v":1,"event_id":"e","type":"order.refunded","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"EUR"}`, `"currency":"EUR"`, `"currency":"EUR","lines":[]`)
	f("identity", validIdentityJSON, `"device_token":"dt.abc"`, `"device_token":"dt abc"`)
	f("identity", validIdentityJSON, `"a@example.com"`, `"nobody"`)
	f("click", validClickJSON, `"kind":"link"`, `"kind":"banner"`)
	f("click", validClickJSON, `"203.0.113.0"`, `"203.0.113.7"`)
	f("click", validClickJSON, `"019ab9f0-7c1e-7cc2-8f3e-0123456789ab"`, `"019ab9f0-7c1e-4cc2-8f3e-0123456789ab"`)
	f("click", validClickJSON, `"https://shop.example/p/1"`, `"javascript:alert(1)"`)
	f("commission", validCommissionJSON, `"state":"pending"`, `"state":"paid"`)
	f("store_credit", validStoreCreditJSON, `"request_id":"sc-1",`, ``)
	f("dlq", validDLQJSON, `"partition":3`, `"partition":-1`)
}
