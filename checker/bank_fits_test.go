package checker

import (
	"errors"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
)

func TestBankFits(t *testing.T) {
	var good bankHistory
	good.transfer("a0", "a1", 2, history.OK, 5)
	good.read(map[string]any{"a0": 2, "a1": 5, "a2": 3}, 6)
	if err := BankFits(good.h); err != nil {
		t.Fatalf("a bank history does not fit the bank: %v", err)
	}
	accounts, first, ok := BankObserved(good.h)
	if !ok || strings.Join(accounts, ",") != "a0,a1,a2" || first.Total != 10 || first.Index != 3 {
		t.Errorf("observed %v, first read %+v (%v)", accounts, first, ok)
	}

	for _, tt := range []struct {
		name string
		op   func(b *bankHistory)
		want string
	}{
		{"transfer without amount", func(b *bankHistory) {
			b.add(0, "transfer", map[string]any{"from": "a0", "to": "a1"}, history.OK, nil, 0, 0)
		}, "event 4: transfer value map[from:a0 to:a1] is not {from, to, amount}"},
		{"read of a list", func(b *bankHistory) { b.add(1, "read", nil, history.OK, []any{1, 2}, 0, 0) }, "event 5: read value [1 2] is not a map"},
		{"register op", func(b *bankHistory) { b.add(1, "write", []any{"r1", 1}, history.OK, nil, 0, 0) }, `event 4: f "write" is not a bank operation (transfer, read)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := bankHistory{h: append(history.History(nil), good.h...)}
			tt.op(&b)
			err := BankFits(b.h)
			var ev *history.EventError
			if err == nil || !errors.As(err, &ev) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want an event error containing %q", err, tt.want)
			}
		})
	}
}
