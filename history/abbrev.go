package history

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Histories can hold values of any size (a 5 MiB string put to a key),
// and checkers quote values in summaries and explanations, which end up
// on the terminal, in results.json and in the report. Every value quoted
// in text for people goes through Abbreviate or AbbreviateString, which
// keep short values as they are and cut long ones, saying how long they
// were.
const (
	// shownBytes is the longest string shown whole; a longer one keeps
	// its first shownPrefix bytes.
	shownBytes  = 80
	shownPrefix = 48
	// shownElems is the longest list (or map) shown whole; a longer one
	// keeps its first shownHead and last shownTail elements.
	shownElems = 12
	shownHead  = 4
	shownTail  = 3
	// shownText bounds the text of a value as a whole.
	shownText = 400
)

// AbbreviateString returns s, or, if it is long, its start followed by
// "..." and its full size: "aaaa... (5.0 MiB string)".
func AbbreviateString(s string) string {
	if len(s) <= shownBytes {
		return s
	}
	cut := shownPrefix
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "... (" + size(len(s)) + " string)"
}

// Abbreviate formats v as fmt's %v does, except that long strings, lists
// and maps, at any depth, are cut (see AbbreviateString), and the result
// as a whole is kept under shownText bytes.
func Abbreviate(v any) string {
	var b strings.Builder
	abbreviate(&b, reflect.ValueOf(v), 0)
	s := b.String()
	if len(s) <= shownText {
		return s
	}
	cut := shownText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// size writes a byte count for people.
func size(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// shownDepth bounds how deep Abbreviate descends into nested values.
const shownDepth = 8

func abbreviate(b *strings.Builder, v reflect.Value, depth int) {
	if !v.IsValid() {
		b.WriteString("<nil>")
		return
	}
	if depth > shownDepth {
		b.WriteString("...")
		return
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("<nil>")
			return
		}
		if _, ok := v.Interface().(fmt.Stringer); !ok {
			abbreviate(b, v.Elem(), depth+1)
			return
		}
	case reflect.String:
		b.WriteString(AbbreviateString(v.String()))
		return
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			b.WriteString(AbbreviateString(string(v.Bytes())))
			return
		}
		n := v.Len()
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if n > shownElems && i == shownHead {
				fmt.Fprintf(b, " ... %d more ...", n-shownHead-shownTail)
				i = n - shownTail - 1
				continue
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			abbreviate(b, v.Index(i), depth+1)
		}
		b.WriteByte(']')
		if n > shownElems {
			fmt.Fprintf(b, " (%d elements)", n)
		}
		return
	case reflect.Map:
		keys := v.MapKeys()
		// fmt sorts map keys; so do we, by their text.
		text := make(map[string]reflect.Value, len(keys))
		for _, k := range keys {
			var kb strings.Builder
			abbreviate(&kb, k, depth+1)
			text[kb.String()] = k
		}
		sorted := slices.Sorted(maps.Keys(text))
		b.WriteString("map[")
		for i, k := range sorted {
			if len(sorted) > shownElems && i == shownHead {
				fmt.Fprintf(b, " ... %d more", len(sorted)-shownHead)
				break
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k)
			b.WriteByte(':')
			abbreviate(b, v.MapIndex(text[k]), depth+1)
		}
		b.WriteByte(']')
		if len(sorted) > shownElems {
			fmt.Fprintf(b, " (%d entries)", len(sorted))
		}
		return
	}
	if v.CanInterface() {
		b.WriteString(AbbreviateString(fmt.Sprint(v.Interface())))
		return
	}
	b.WriteString(AbbreviateString(v.String()))
}

// QuoteString quotes s as Go does, abbreviated if long (see
// AbbreviateString): "abc", or "aaaa"... (5.0 MiB string).
func QuoteString(s string) string {
	short := AbbreviateString(s)
	if short == s {
		return strconv.Quote(s)
	}
	cut := shownPrefix
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "... (" + size(len(s)) + " string)"
}
