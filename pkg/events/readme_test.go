package events

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamples decodes every event in schema/README.md: the lines of
// its json blocks and the single-quoted JSON in its shell commands, so the
// guide never shows an event the platform would refuse.
func TestReadmeExamples(t *testing.T) {
	b, err := os.ReadFile("schema/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	inJSON := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "```json":
			inJSON = true
		case line == "```":
			inJSON = false
		case inJSON && strings.HasPrefix(line, "{"):
			found = append(found, line)
		}
	}
	for _, m := range regexp.MustCompile(`'(\{"v":1.*?\})'`).FindAllStringSubmatch(string(b), -1) {
		found = append(found, m[1])
	}
	if len(found) < 10 {
		t.Fatalf("found only %d examples in the README", len(found))
	}
	for _, ex := range found {
		var err error
		switch {
		case strings.Contains(ex, `"type":"order.`):
			_, err = DecodeOrder([]byte(ex))
		case strings.Contains(ex, `"request_id"`):
			_, err = DecodeStoreCredit([]byte(ex))
		default:
			_, err = DecodeIdentity([]byte(ex))
		}
		if err != nil {
			t.Errorf("README example %s: %v", ex, err)
		}
	}
}
