package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// DecodeNDJSON decodes a request body holding one JSON event, possibly
// spread over several lines, or NDJSON: one event per line (LF or CRLF),
// blank lines ignored. It decodes every event with decode before returning,
// so a caller writes nothing unless all of them are valid. It stops at the
// first bad event and returns a *FieldError whose Line is that event's
// 1-based line. It rejects an empty body and more than maxEvents events.
func DecodeNDJSON[T any](body []byte, maxEvents int, decode func([]byte) (T, error)) ([]T, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &FieldError{Msg: "empty body"}
	}
	if maxEvents < 1 {
		panic("BUG: DecodeNDJSON with maxEvents < 1")
	}
	// A single (possibly pretty-printed) JSON value is one event on line 1.
	if bytes.IndexByte(trimmed, '\n') >= 0 && json.Valid(trimmed) {
		v, err := decode(trimmed)
		if err != nil {
			return nil, atLine(err, 1)
		}
		return []T{v}, nil
	}
	var out []T
	for lineNo := 1; len(body) > 0; lineNo++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(out) == maxEvents {
			return nil, &FieldError{Line: lineNo, Msg: "more than " + strconv.Itoa(maxEvents) + " events in one request"}
		}
		v, err := decode(line)
		if err != nil {
			return nil, atLine(err, lineNo)
		}
		out = append(out, v)
	}
	return out, nil
}

// atLine sets the line of a FieldError (or wraps another error in one).
func atLine(err error, line int) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		c := *fe
		c.Line = line
		return &c
	}
	return &FieldError{Line: line, Msg: err.Error()}
}
