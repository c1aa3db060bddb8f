package workloads

import (
	"testing"

	"github.com/squall-chaos/squall/history"
)

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		op   history.Op
		want bool
	}{
		{history.Op{Type: history.Fail, Error: "cas: value differs"}, true},
		{history.Op{Type: history.Fail, Error: "insufficient funds: a1 has 3"}, true},
		{history.Op{Type: history.Fail, Error: "percolator: transaction did not commit: conflict: key k1"}, true},
		{history.Op{Type: history.Fail, Error: "rpc error: code = Unavailable desc = not leader"}, false},
		{history.Op{Type: history.Info, Error: "cas: value differs"}, false},
		{history.Op{Type: history.OK}, false},
	} {
		if got := Refused(tc.op); got != tc.want {
			t.Errorf("Refused(%s %q) = %v, want %v", tc.op.Type, tc.op.Error, got, tc.want)
		}
	}
}
