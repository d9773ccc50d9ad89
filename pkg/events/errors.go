package events

import "strconv"

// FieldError is the error every decoder in this package returns for bad
// input. Field names the offending JSON field as a path ("currency",
// "lines[2].quantity"; empty when the problem is the event as a whole, such
// as broken JSON or an empty body). Line is the 1-based NDJSON line of the
// event, or 0 outside DecodeNDJSON. The tracker answers
// {"error": Msg, "field": Field, "line": Line} from it.
type FieldError struct {
	Line  int
	Field string
	Msg   string
}

// Error returns "line N: field: message", leaving out what is empty.
func (e *FieldError) Error() string {
	s := e.Msg
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Line > 0 {
		s = "line " + strconv.Itoa(e.Line) + ": " + s
	}
	return s
}

func fieldErr(field, msg string) *FieldError { return &FieldError{Field: field, Msg: msg} }

// lineField returns "lines[i].name".
func lineField(i int, name string) string {
	return "lines[" + strconv.Itoa(i) + "]." + name
}
