package squallnode

import (
	"fmt"
	"strconv"
	"strings"
)

// The append workload's lists are stored, on both of squall's systems, as
// one value: the elements, each followed by a comma ("1,2,7,"), so that an
// append is a write of "7," at the end.

// ParseList reads a stored list "1,2,7," into its elements.
func ParseList(value []byte) ([]any, error) {
	list := []any{}
	s, ok := strings.CutSuffix(string(value), ",")
	if !ok {
		if len(value) == 0 {
			return list, nil
		}
		return nil, fmt.Errorf("list %q does not end with a comma", value)
	}
	for e := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list %q: element %q is not an integer", value, e)
		}
		list = append(list, n)
	}
	return list, nil
}
