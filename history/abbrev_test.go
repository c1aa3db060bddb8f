package history

import (
	"strings"
	"testing"
)

func TestAbbreviate(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{"short", "short"},
		{nil, "<nil>"},
		{[]any{1, "a", nil}, "[1 a <nil>]"},
		{[]int64{1, 2, 3}, "[1 2 3]"},
		{map[string]any{"b": 2, "a": []any{1}}, "map[a:[1] b:2]"},
		{strings.Repeat("é", 100), strings.Repeat("é", 24) + "... (200 bytes string)"},
		{make([]int64, 1000), "[0 0 0 0 ... 993 more ... 0 0 0] (1000 elements)"},
		{[]any{strings.Repeat("x", 3<<20)}, "[" + strings.Repeat("x", 48) + "... (3.0 MiB string)]"},
	} {
		if got := Abbreviate(tt.v); got != tt.want {
			t.Errorf("Abbreviate(%.40v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := QuoteString(strings.Repeat("q", 100)); got != `"`+strings.Repeat("q", 48)+`"... (100 bytes string)` {
		t.Errorf("QuoteString = %s", got)
	}
	big := make(map[string]int, 100)
	for i := range 100 {
		big[strings.Repeat("k", i+1)] = i
	}
	if got := Abbreviate(big); len(got) > 200 || !strings.HasSuffix(got, "(100 entries)") {
		t.Errorf("a map of 100 entries: %q", got)
	}
}

func TestAbbreviateBoundsTheWhole(t *testing.T) {
	var l []string
	for range 12 {
		l = append(l, strings.Repeat("s", 1000))
	}
	if got := Abbreviate(l); len(got) > shownText+3 || !strings.HasSuffix(got, "...") {
		t.Errorf("12 long strings: %d bytes: %q", len(got), got)
	}
}
