package ops

import (
	"fmt"

	"github.com/squall-chaos/squall/history"
)

// The bank workload's operations, f and value:
//
//	transfer {"from": "a1", "to": "a3", "amount": 5}
//	read     null, completing ok with {"a0": 10, "a1": 10, ...}

// Transfer is a transfer's value.
type Transfer struct {
	From, To string
	Amount   int64
}

// Value is the transfer as an operation's value.
func (t Transfer) Value() any {
	return map[string]any{"from": t.From, "to": t.To, "amount": t.Amount}
}

// DecodeTransfer reads a transfer's value. It checks the shape only (a
// history from elsewhere may hold odd transfers, which its checker judges);
// a client checks Valid before it moves money.
func DecodeTransfer(v any) (Transfer, error) {
	var t Transfer
	m, ok := v.(map[string]any)
	if ok {
		t.From, _ = m["from"].(string)
		t.To, _ = m["to"].(string)
		t.Amount, ok = history.Int(m["amount"])
	}
	if !ok || t.From == "" || t.To == "" {
		return Transfer{}, fmt.Errorf("transfer value %s is not {from, to, amount}", history.Abbreviate(v))
	}
	return t, nil
}

// Valid checks that t moves a positive amount between two accounts.
func (t Transfer) Valid() error {
	if t.From == t.To || t.Amount <= 0 {
		return fmt.Errorf("transfer of %d from %s to %s: want a positive amount between two accounts", t.Amount, t.From, t.To)
	}
	return nil
}

// BalancesValue is a read's result as an operation's value.
func BalancesValue(balances map[string]int64) any {
	m := make(map[string]any, len(balances))
	for a, n := range balances {
		m[a] = n
	}
	return m
}

// DecodeBalances reads a read's result: {account: balance}, as a workload
// made it or as decoded from a history file.
func DecodeBalances(v any) (map[string]int64, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("read value %s is not a map of account to balance", history.Abbreviate(v))
	}
	balances := make(map[string]int64, len(m))
	for a, x := range m {
		n, ok := history.Int(x)
		if !ok {
			return nil, fmt.Errorf("read value: balance of %s is %s, not an integer", history.AbbreviateString(a), history.Abbreviate(x))
		}
		balances[a] = n
	}
	return balances, nil
}
