package ops

import (
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
)

// TestTxnRequest: an append client runs a txn of micro-ops and refuses
// anything else, saying what was wrong.
func TestTxnRequest(t *testing.T) {
	txn := []any{[]any{"append", "k1", int64(3)}, []any{"r", "k2", nil}}
	got, err := TxnRequest(history.Op{F: "txn", Value: txn})
	if err != nil {
		t.Fatal(err)
	}
	want := history.Txn{{F: "append", Key: "k1", Elem: 3}, {F: "r", Key: "k2"}}
	if len(got) != len(want) || got[0].F != want[0].F || got[0].Key != want[0].Key || got[0].Elem != want[0].Elem ||
		got[1].F != want[1].F || got[1].Key != want[1].Key || got[1].Read != nil {
		t.Errorf("TxnRequest = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		name string
		op   history.Op
		want string
	}{
		{"not a txn", history.Op{F: "read", Value: txn}, `unknown f "read"`},
		{"empty", history.Op{F: "txn", Value: []any{}}, "no micro-ops"},
		{"not a list", history.Op{F: "txn", Value: "x"}, "want a list of micro-ops"},
		{"bad micro-op", history.Op{F: "txn", Value: []any{[]any{"w", "k", int64(1)}}}, `want "append" or "r"`},
	} {
		if _, err := TxnRequest(tc.op); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: TxnRequest error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
