package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeLine decodes one JSON-lines event without reflection, into
// compact values: integers are int64 (not json.Number), a non-empty list
// of integers is an []int64 (a list-append read of a thousand elements is
// one allocation), and short strings (f names, keys, micro-op names) are
// shared through the decoder's table. Other numbers stay json.Number,
// objects are map[string]any. It accepts what Decode accepts, with the
// same errors for a bad event; an event cut short (the line ends inside
// it) is errCutShort.
type lineDecoder struct {
	b    []byte
	i    int
	strs map[string]string
	// scratch holds the elements of the lists being decoded, one slice
	// per nesting depth, reused from line to line.
	scratch [][]any
	depth   int
	// mops and intScratch hold a Txn's micro-ops and a read's list while
	// they are decoded.
	mops       []MicroOp
	intScratch []int64
}

// errCutShort says a line ended in the middle of its event.
var errCutShort = errors.New("the line ends in the middle of the event")

// internMax is the longest string shared through the table.
const internMax = 32

func newLineDecoder() *lineDecoder {
	return &lineDecoder{strs: make(map[string]string)}
}

func (d *lineDecoder) decode(line []byte) (Op, error) {
	d.b, d.i, d.depth = line, 0, 0
	op, err := d.event()
	if err != nil {
		if errors.Is(err, errCutShort) {
			return Op{}, fmt.Errorf("bad event %s: %w", abbreviateLine(line), err)
		}
		return Op{}, fmt.Errorf("bad event %s: %v", abbreviateLine(line), err)
	}
	if op.F == "" {
		return Op{}, fmt.Errorf("bad event %s: no \"f\"", abbreviateLine(line))
	}
	if op.F == "txn" {
		// The value came before f: make it a Txn now, if it is one.
		if t, ok := txnOf(op.Value); ok {
			op.Value = t
		}
	}
	if !op.Type.valid() {
		return Op{}, fmt.Errorf("bad event %s: type %q, want invoke, ok, fail or info", abbreviateLine(line), op.Type)
	}
	return op, nil
}

func jsonNumber(b []byte) json.Number { return json.Number(b) }

// abbreviateLine quotes a bad line in an error, as Decode does.
func abbreviateLine(b []byte) string {
	if len(b) > 120 {
		return string(b[:120])
	}
	return string(b)
}

func (d *lineDecoder) event() (Op, error) {
	var op Op
	d.space()
	if err := d.expect('{'); err != nil {
		return op, err
	}
	d.space()
	if d.peek() == '}' {
		d.i++
		return op, d.end()
	}
	for {
		d.space()
		raw, err := d.rawString()
		if err != nil {
			return op, err
		}
		key, err := fieldName(raw)
		if err != nil {
			return op, err
		}
		d.space()
		if err := d.expect(':'); err != nil {
			return op, err
		}
		d.space()
		if err := d.field(&op, key); err != nil {
			return op, err
		}
		d.space()
		c, err := d.next()
		if err != nil {
			return op, err
		}
		switch c {
		case ',':
			continue
		case '}':
			return op, d.end()
		}
		return op, fmt.Errorf("invalid character %q after object key:value pair", c)
	}
}

// end checks that nothing but space follows the event.
func (d *lineDecoder) end() error {
	d.space()
	if d.i < len(d.b) {
		return fmt.Errorf("invalid character %q after top-level value", d.b[d.i])
	}
	return nil
}

// fields are Op's JSON names.
var fields = []string{"index", "type", "process", "f", "value", "time", "node", "error", "start_ts", "commit_ts"}

// fieldName reads an object key as the field of Op it names, matching as
// encoding/json does: escapes decoded, case folded.
func fieldName(raw []byte) (string, error) {
	for _, f := range fields {
		if string(raw) == f {
			return f, nil
		}
	}
	key := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
		var err error
		if key, err = unescape(raw); err != nil {
			return "", err
		}
	}
	for _, f := range fields {
		if strings.EqualFold(key, f) {
			return f, nil
		}
	}
	return "", fmt.Errorf("json: unknown field %q", key)
}

func (d *lineDecoder) field(op *Op, key string) error {
	if d.peekLiteral("null") {
		d.i += 4
		switch key {
		case "value":
			op.Value = nil
		case "process": // its UnmarshalJSON refuses null
			return fmt.Errorf("process null: want a non-negative integer or \"nemesis\"")
		}
		return nil
	}
	var err error
	switch key {
	case "index":
		op.Index, err = d.int64Field("index")
	case "type":
		var s string
		s, err = d.stringField("type")
		op.Type = Type(s)
	case "process":
		op.Process, err = d.process()
	case "f":
		op.F, err = d.stringField("f")
	case "value":
		if op.F == "txn" {
			op.Value, err = d.txnValue()
		} else {
			op.Value, err = d.value()
		}
	case "time":
		op.Time, err = d.int64Field("time")
	case "node":
		op.Node, err = d.stringField("node")
	case "error":
		op.Error, err = d.stringField("error")
	case "start_ts":
		op.StartTS, err = d.uint64Field("start_ts")
	case "commit_ts":
		op.CommitTS, err = d.uint64Field("commit_ts")
	}
	return err
}

func (d *lineDecoder) process() (Process, error) {
	start := d.i
	if d.peek() == '"' {
		s, err := d.rawString()
		if err != nil {
			return 0, err
		}
		if string(s) == "nemesis" {
			return Nemesis, nil
		}
		return 0, fmt.Errorf("process %s: want a non-negative integer or \"nemesis\"", d.b[start:d.i])
	}
	n, ok, err := d.integer()
	if err != nil {
		return 0, err
	}
	if !ok || n < 0 {
		return 0, fmt.Errorf("process %s: want a non-negative integer or \"nemesis\"", d.b[start:d.i])
	}
	return Process(n), nil
}

func (d *lineDecoder) int64Field(name string) (int64, error) {
	start := d.i
	n, ok, err := d.integer()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("json: cannot unmarshal %s into Go struct field Op.%s of type int64", d.b[start:d.i], name)
	}
	return n, nil
}

func (d *lineDecoder) uint64Field(name string) (uint64, error) {
	start := d.i
	if err := d.number(); err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("json: cannot unmarshal %s into Go struct field Op.%s of type uint64", d.b[start:d.i], name)
	}
	return n, nil
}

func (d *lineDecoder) stringField(name string) (string, error) {
	if d.peek() != '"' {
		start := d.i
		if _, err := d.value(); err != nil {
			return "", err
		}
		return "", fmt.Errorf("json: cannot unmarshal %s into Go struct field Op.%s of type string", d.b[start:d.i], name)
	}
	return d.str()
}

// value decodes any JSON value.
func (d *lineDecoder) value() (any, error) {
	switch c := d.peek(); {
	case c == '"':
		return d.str()
	case c == '[':
		return d.list()
	case c == '{':
		return d.object()
	case c == '-' || ('0' <= c && c <= '9'):
		start := d.i
		n, ok, err := d.integer()
		if err != nil {
			return nil, err
		}
		if ok {
			return n, nil
		}
		return jsonNumber(d.b[start:d.i]), nil
	case d.peekLiteral("true"):
		d.i += 4
		return true, nil
	case d.peekLiteral("false"):
		d.i += 5
		return false, nil
	case d.peekLiteral("null"):
		d.i += 4
		return nil, nil
	case d.i >= len(d.b) || d.cutLiteral():
		return nil, errCutShort
	default:
		return nil, fmt.Errorf("invalid character %q looking for beginning of value", c)
	}
}

// txnValue decodes a list-append txn's value straight into a Txn, or, if
// it has another shape, as any other value.
func (d *lineDecoder) txnValue() (any, error) {
	start := d.i
	if t, ok := d.txn(); ok {
		return t, nil
	}
	d.i = start
	return d.value()
}

// txn decodes a value of Txn's shape; ok is false if the value has
// another (or is no JSON), and then d.i is anywhere.
func (d *lineDecoder) txn() (t Txn, ok bool) {
	if d.peek() != '[' {
		return nil, false
	}
	d.i++
	mops := d.mops[:0]
	defer func() { d.mops = mops[:0] }()
	d.space()
	if d.peek() == ']' {
		d.i++
		return Txn{}, true
	}
	for {
		d.space()
		m, ok := d.microOp()
		if !ok {
			return nil, false
		}
		mops = append(mops, m)
		d.space()
		c, err := d.next()
		if err != nil {
			return nil, false
		}
		if c == ']' {
			return append(Txn(nil), mops...), true
		}
		if c != ',' {
			return nil, false
		}
	}
}

func (d *lineDecoder) microOp() (m MicroOp, ok bool) {
	if d.peek() != '[' {
		return m, false
	}
	d.i++
	d.space()
	if d.peek() != '"' {
		return m, false
	}
	f, err := d.str()
	if err != nil || (f != "append" && f != "r") || !d.comma() {
		return m, false
	}
	if d.peek() != '"' {
		return m, false
	}
	if m.Key, err = d.str(); err != nil || !d.comma() {
		return m, false
	}
	m.F = f
	switch {
	case f == "append":
		n, isInt, err := d.integer()
		if err != nil || !isInt {
			return m, false
		}
		m.Elem = n
	case d.peekLiteral("null"):
		d.i += 4
	default:
		if m.Read, ok = d.ints(); !ok {
			return m, false
		}
	}
	d.space()
	c, err := d.next()
	return m, err == nil && c == ']'
}

// comma consumes a comma and the space around it.
func (d *lineDecoder) comma() bool {
	d.space()
	c, err := d.next()
	d.space()
	return err == nil && c == ','
}

// ints decodes a list of integers.
func (d *lineDecoder) ints() ([]int64, bool) {
	if d.peek() != '[' {
		return nil, false
	}
	d.i++
	d.space()
	if d.peek() == ']' {
		d.i++
		return []int64{}, true
	}
	l := d.intScratch[:0]
	defer func() { d.intScratch = l[:0] }()
	for {
		d.space()
		n, isInt, err := d.integer()
		if err != nil || !isInt {
			return nil, false
		}
		l = append(l, n)
		d.space()
		c, err := d.next()
		if err != nil {
			return nil, false
		}
		if c == ']' {
			return append([]int64(nil), l...), true
		}
		if c != ',' {
			return nil, false
		}
	}
}

// cutLiteral reports whether the line ends in the middle of true, false
// or null.
func (d *lineDecoder) cutLiteral() bool {
	rest := string(d.b[d.i:])
	for _, lit := range []string{"true", "false", "null"} {
		if len(rest) < len(lit) && lit[:len(rest)] == rest {
			return true
		}
	}
	return false
}

// maxDepth bounds the nesting of values, as encoding/json's does.
const maxDepth = 10000

func (d *lineDecoder) list() (any, error) {
	if d.depth >= maxDepth {
		return nil, errors.New("exceeded max depth")
	}
	d.i++ // [
	for len(d.scratch) <= d.depth {
		d.scratch = append(d.scratch, nil)
	}
	depth := d.depth
	d.depth++
	defer func() { d.depth-- }()
	elems := d.scratch[depth][:0]
	d.space()
	if d.peek() == ']' {
		d.i++
		return []any{}, nil
	}
	ints := true
	for {
		d.space()
		v, err := d.value()
		if err != nil {
			d.scratch[depth] = elems
			return nil, err
		}
		if _, isInt := v.(int64); !isInt {
			ints = false
		}
		elems = append(elems, v)
		d.space()
		c, err := d.next()
		if err != nil {
			d.scratch[depth] = elems
			return nil, err
		}
		if c == ',' {
			continue
		}
		if c != ']' {
			d.scratch[depth] = elems
			return nil, fmt.Errorf("invalid character %q after array element", c)
		}
		break
	}
	d.scratch[depth] = elems
	if ints {
		l, _ := intsOf(elems)
		clear(elems)
		return l, nil
	}
	l := make([]any, len(elems))
	copy(l, elems)
	clear(elems)
	return l, nil
}

func (d *lineDecoder) object() (any, error) {
	if d.depth >= maxDepth {
		return nil, errors.New("exceeded max depth")
	}
	d.i++ // {
	d.depth++
	defer func() { d.depth-- }()
	m := make(map[string]any)
	d.space()
	if d.peek() == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if err := d.expect(':'); err != nil {
			return nil, err
		}
		d.space()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[key] = v
		d.space()
		c, err := d.next()
		if err != nil {
			return nil, err
		}
		if c == ',' {
			continue
		}
		if c != '}' {
			return nil, fmt.Errorf("invalid character %q after object key:value pair", c)
		}
		return m, nil
	}
}

// integer reads a number; ok is false if it is not an integer that fits
// an int64 (the number is consumed all the same).
func (d *lineDecoder) integer() (n int64, ok bool, err error) {
	start := d.i
	if err := d.number(); err != nil {
		return 0, false, err
	}
	digits := d.b[start:d.i]
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) > 18 {
		n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
		return n, err == nil, nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, nil
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true, nil
}

// number consumes a JSON number.
func (d *lineDecoder) number() error {
	start := d.i
	if d.peek() == '-' {
		d.i++
	}
	switch c := d.peek(); {
	case c == '0':
		d.i++
	case '1' <= c && c <= '9':
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
		}
	case d.i >= len(d.b):
		return errCutShort
	default:
		return fmt.Errorf("invalid character %q in numeric literal", c)
	}
	if d.peek() == '.' {
		d.i++
		if err := d.digits(); err != nil {
			return err
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if err := d.digits(); err != nil {
			return err
		}
	}
	if d.i == start {
		return fmt.Errorf("invalid number")
	}
	return nil
}

func (d *lineDecoder) digits() error {
	if d.i >= len(d.b) {
		return errCutShort
	}
	if c := d.b[d.i]; c < '0' || c > '9' {
		return fmt.Errorf("invalid character %q in numeric literal", c)
	}
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return nil
}

// str decodes a string, sharing short ones through the table.
func (d *lineDecoder) str() (string, error) {
	raw, err := d.rawString()
	if err != nil {
		return "", err
	}
	if !d.escaped(raw) {
		if len(raw) > internMax {
			return string(raw), nil
		}
		if s, ok := d.strs[string(raw)]; ok {
			return s, nil
		}
		s := string(raw)
		d.strs[s] = s
		return s, nil
	}
	return unescape(raw)
}

// rawString consumes a string and returns what is between its quotes,
// escapes and all.
func (d *lineDecoder) rawString() ([]byte, error) {
	if d.i >= len(d.b) {
		return nil, errCutShort
	}
	if d.b[d.i] != '"' {
		return nil, fmt.Errorf("invalid character %q looking for beginning of object key string", d.b[d.i])
	}
	d.i++
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, nil
		case c == '\\':
			d.i += 2
		case c < 0x20:
			return nil, fmt.Errorf("invalid character %q in string literal", c)
		default:
			d.i++
		}
	}
	return nil, errCutShort
}

func (d *lineDecoder) escaped(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// unescape decodes a string's escapes, and, as encoding/json does,
// replaces invalid UTF-8 with U+FFFD.
func unescape(raw []byte) (string, error) {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", fmt.Errorf("invalid escape in string literal")
		}
		switch e := raw[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", fmt.Errorf("invalid \\u escape in string literal")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(raw[min(i+2, len(raw)):]); ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", fmt.Errorf("invalid character %q in string escape code", e)
		}
		i += 2
	}
	return string(b), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r*16 + rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r*16 + rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r*16 + rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (d *lineDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *lineDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *lineDecoder) peekLiteral(lit string) bool {
	return len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit
}

func (d *lineDecoder) next() (byte, error) {
	if d.i >= len(d.b) {
		return 0, errCutShort
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

func (d *lineDecoder) expect(c byte) error {
	got, err := d.next()
	if err != nil {
		return err
	}
	if got != c {
		return fmt.Errorf("invalid character %q, want %q", got, c)
	}
	return nil
}
