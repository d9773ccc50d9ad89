package events

import (
	"errors"
	"strconv"
	"unsafe"
)

// MaxEventBytes bounds the size of one encoded event accepted by the
// decoders (1 MiB: an order of MaxLines lines with long ids fits easily).
const MaxEventBytes = 1 << 20

// reader decodes one event object: it tracks which known keys were seen (to
// reject duplicates), the first unknown key (reported after the version
// check, so that a v2 event is refused as a version, not as an unknown
// field) and the version.
type reader struct {
	l       lexer
	seen    uint64
	unknown string
	v       int64
	hasV    bool
}

// decodeObject reads the event in data, calling fn for each key (see
// lexer.object). It checks size, syntax, the version and unknown fields.
func decodeObject(data []byte, fn func(r *reader, key []byte) error) (*reader, error) {
	return decodeObjectIn(data, false, fn)
}

// decodeObjectIn is decodeObject; owned says that data is handed over for
// good, so the decoded strings may alias it.
func decodeObjectIn(data []byte, owned bool, fn func(r *reader, key []byte) error) (*reader, error) {
	if len(data) > MaxEventBytes {
		return nil, fieldErr("", "event larger than "+strconv.Itoa(MaxEventBytes)+" bytes")
	}
	// One string backs every unescaped string field: one allocation (none
	// when owned) instead of one per field.
	var src string
	if owned {
		src = unsafe.String(unsafe.SliceData(data), len(data))
	} else {
		src = string(data)
	}
	r := &reader{l: lexer{data: data, src: src}}
	err := r.l.object(func(key []byte) error {
		if string(key) == "v" {
			if err := r.mark(63, "v"); err != nil {
				return err
			}
			v, ok, err := r.integer("v")
			r.v, r.hasV = v, ok
			return err
		}
		return fn(r, key)
	})
	if err == nil {
		err = r.l.end()
	}
	if err != nil {
		return nil, r.wrap(err, "")
	}
	if !r.hasV {
		return nil, fieldErr("v", "missing schema version (want 1)")
	}
	if r.v != Version {
		return nil, fieldErr("v", "unsupported schema version "+strconv.FormatInt(r.v, 10)+" (want 1)")
	}
	return r, nil
}

// unknownErr reports the first unknown field, if any.
func (r *reader) unknownErr() error {
	if r.unknown != "" {
		return fieldErr(r.unknown, "unknown field")
	}
	return nil
}

// mark records that the field with the given bit was seen and rejects a
// second occurrence.
func (r *reader) mark(bit uint, name string) error {
	if r.seen&(1<<bit) != 0 {
		return fieldErr(name, "duplicate field")
	}
	r.seen |= 1 << bit
	return nil
}

// skipUnknown remembers the first unknown field and skips its value.
func (r *reader) skipUnknown(name string) error {
	if r.unknown == "" {
		r.unknown = name
	}
	return r.wrap(r.l.skip(0), name)
}

// wrap turns a lexer error into a FieldError naming field; FieldErrors pass
// through.
func (r *reader) wrap(err error, field string) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return fieldErr(field, err.Error())
}

// str reads a string; null reads as "".
func (r *reader) str(field string) (string, error) {
	if r.l.null() {
		return "", nil
	}
	if !r.l.isString() {
		return "", fieldErr(field, "must be a string")
	}
	s, err := r.l.str()
	return s, r.wrap(err, field)
}

// errEmptyOptional is the message for "" in an optional field: the schemas
// refuse it (it is neither a value nor absent), so the decoder does too
// rather than reading it as absent.
const errEmptyOptional = "must not be empty (leave the field out or send null)"

// optStr reads an optional string field: null reads as "", and so does a
// present "" unless strict (DecodeOrderStrict, DecodeIdentityStrict), which
// refuses it.
func (r *reader) optStr(strict bool, field string) (string, error) {
	if r.l.null() {
		return "", nil
	}
	s, err := r.str(field)
	if err == nil && s == "" && strict {
		return "", fieldErr(field, errEmptyOptional)
	}
	return s, err
}

// optDecimal reads an optional amount as optStr reads a string.
func (r *reader) optDecimal(strict bool, field string) (string, error) {
	if r.l.null() {
		return "", nil
	}
	s, err := r.decimal(field)
	if err == nil && s == "" && strict {
		return "", fieldErr(field, errEmptyOptional)
	}
	return s, err
}

// decimal reads an amount, which must be a JSON string; null reads as "".
func (r *reader) decimal(field string) (string, error) {
	if r.l.null() {
		return "", nil
	}
	if !r.l.isString() {
		return "", fieldErr(field, `must be a decimal string such as "149.90", not a JSON number`)
	}
	s, err := r.l.str()
	return s, r.wrap(err, field)
}

// integer reads a JSON integer (no fraction, no exponent) that fits int64;
// ok is false for null.
func (r *reader) integer(field string) (v int64, ok bool, err error) {
	if r.l.null() {
		return 0, false, nil
	}
	if r.l.isString() {
		return 0, false, fieldErr(field, "must be a JSON integer, not a string")
	}
	num, err := r.l.number()
	if err != nil {
		return 0, false, r.wrap(err, field)
	}
	v, err = parseInt(num)
	if err != nil {
		return 0, false, fieldErr(field, err.Error())
	}
	return v, true, nil
}

// boolean reads true or false; ok is false for null.
func (r *reader) boolean(field string) (v, ok bool, err error) {
	if r.l.null() {
		return false, false, nil
	}
	v, err = r.l.bool()
	return v, err == nil, r.wrap(err, field)
}

var (
	errNotInteger = errors.New("must be an integer")
	errIntRange   = errors.New("integer out of range")
)

// parseInt parses the text of a JSON number that must be an integer.
func parseInt(num []byte) (int64, error) {
	neg := len(num) > 0 && num[0] == '-'
	digits := num
	if neg {
		digits = num[1:]
	}
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errNotInteger
		}
		if v > (1<<63-1-uint64(c-'0'))/10 {
			return 0, errIntRange
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}
