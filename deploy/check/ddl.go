package check

import (
	"fmt"
	"regexp"
	"strings"
)

// Table is a CREATE TABLE statement of the shape our ClickHouse DDL uses.
type Table struct {
	Name    string
	Cluster string   // ON CLUSTER '<name>', or ""
	Columns []string // "name Type [DEFAULT expr]", spaces normalised
	As      string   // AS <table> instead of a column list
	Engine  string   // engine name, e.g. ReplacingMergeTree
	Args    []string // engine arguments, spaces normalised
	// Rest is what follows the engine (PARTITION BY …, ORDER BY …), spaces normalised.
	Rest string
}

// View is a CREATE MATERIALIZED VIEW … TO … AS SELECT statement.
type View struct {
	Name, Cluster, To string
	Select            string // spaces normalised
}

// Schema is what a set of DDL statements creates.
type Schema struct {
	Tables map[string]Table
	Views  map[string]View
	// Backfills are the INSERT INTO … SELECT statements that fill a new
	// rollup from rows stored before its view existed, in order, spaces
	// normalised.
	Backfills []string
}

var (
	tableRe  = regexp.MustCompile(`(?s)^CREATE TABLE IF NOT EXISTS (\S+)(?: ON CLUSTER '([^']+)')?\s+(?:\((.*)\)|AS (\S+))\s*ENGINE = (\w+)(?:\((.*?)\))?(?:\s+(.*))?$`)
	insertRe = regexp.MustCompile(`(?s)^INSERT INTO \S+\s+SELECT\s.*$`)
	viewRe   = regexp.MustCompile(`(?s)^CREATE MATERIALIZED VIEW IF NOT EXISTS (\S+)(?: ON CLUSTER '([^']+)')? TO (\S+)\s+AS (SELECT.*)$`)
	spaceRe  = regexp.MustCompile(`\s+`)
)

// ParseSchema parses statements (without their final ';') into a Schema.
// Only CREATE TABLE IF NOT EXISTS, CREATE MATERIALIZED VIEW IF NOT EXISTS
// … TO … and INSERT INTO … SELECT (a backfill) are accepted: anything else
// is an error, so a statement of a new
// kind cannot slip past the comparison unseen. Names keep their database
// prefix as written (e.g. `affiliate`.clicks).
func ParseSchema(statements []string) (*Schema, error) {
	s := &Schema{Tables: map[string]Table{}, Views: map[string]View{}}
	for _, stmt := range statements {
		stmt = strings.TrimSpace(stmt)
		if m := tableRe.FindStringSubmatch(stmt); m != nil {
			t := Table{Name: m[1], Cluster: m[2], As: m[4], Engine: m[5], Rest: norm(m[7])}
			if m[3] != "" {
				t.Columns = splitTop(m[3])
			}
			if m[6] != "" {
				t.Args = splitTop(m[6])
			}
			if _, dup := s.Tables[t.Name]; dup {
				return nil, fmt.Errorf("table %s created twice", t.Name)
			}
			s.Tables[t.Name] = t
			continue
		}
		if m := viewRe.FindStringSubmatch(stmt); m != nil {
			v := View{Name: m[1], Cluster: m[2], To: m[3], Select: norm(m[4])}
			if _, dup := s.Views[v.Name]; dup {
				return nil, fmt.Errorf("view %s created twice", v.Name)
			}
			s.Views[v.Name] = v
			continue
		}
		if insertRe.MatchString(stmt) {
			s.Backfills = append(s.Backfills, norm(stmt))
			continue
		}
		first, _, _ := strings.Cut(stmt, "\n")
		return nil, fmt.Errorf("statement not understood: %s", first)
	}
	return s, nil
}

func norm(s string) string { return strings.TrimSpace(spaceRe.ReplaceAllString(s, " ")) }

// splitTop splits s at the commas outside parentheses and quotes.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	quoted := false
	for i, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
		case quoted:
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			out = append(out, norm(s[start:i]))
			start = i + 1
		}
	}
	if last := norm(s[start:]); last != "" {
		out = append(out, last)
	}
	return out
}
