package logs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	f := func(format, wantPrefix string) {
		t.Helper()
		var buf bytes.Buffer
		log, err := New(&buf, format)
		if err != nil {
			t.Fatalf("New(%q) error = %v", format, err)
		}
		log.Info("hello", "partner_id", 7)
		if !strings.HasPrefix(buf.String(), wantPrefix) {
			t.Fatalf("New(%q) wrote %q, want prefix %q", format, buf.String(), wantPrefix)
		}
		if format == "json" {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "hello" || m["partner_id"] != 7.0 {
				t.Fatalf("New(%q) wrote %q, want a JSON line with msg and partner_id", format, buf.String())
			}
		}
	}
	// production format: one JSON object per line
	f("json", "{")
	// unset means text, for people at a terminal
	f("", "time=")
	f("text", "time=")
}

func TestNewRejectsUnknownFormat(t *testing.T) {
	_, err := New(&bytes.Buffer{}, "yaml")
	if err == nil || !strings.Contains(err.Error(), FormatVar) {
		t.Fatalf("New(%q) error = %v, want one naming %s", "yaml", err, FormatVar)
	}
}
