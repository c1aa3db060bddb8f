package squallnode

import (
	"fmt"
	"testing"
)

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		stored string
		want   string
		err    bool
	}{
		{"", "[]", false},
		{"1,", "[1]", false},
		{"1,2,7,", "[1 2 7]", false},
		{"1,2", "", true},
		{"1,x,", "", true},
	} {
		got, err := ParseList([]byte(tc.stored))
		if (err != nil) != tc.err || (err == nil && fmt.Sprint(got) != tc.want) {
			t.Errorf("ParseList(%q) = %v, %v; want %s (error: %v)", tc.stored, got, err, tc.want, tc.err)
		}
	}
}
