package checker

import (
	"testing"
)

func TestRegisterStep(t *testing.T) {
	absent := registerState{}
	four := registerState{value: 4, present: true}
	five := registerState{value: 5, present: true}
	tests := []struct {
		name  string
		state registerState
		in    registerInput
		out   registerOutput
		legal bool
		next  registerState
	}{
		{"read absent as null", absent, registerInput{f: registerRead}, registerOutput{}, true, absent},
		{"read absent as a value", absent, registerInput{f: registerRead}, registerOutput{value: 4, present: true}, false, absent},
		{"read the value", four, registerInput{f: registerRead}, registerOutput{value: 4, present: true}, true, four},
		{"read another value", four, registerInput{f: registerRead}, registerOutput{value: 5, present: true}, false, four},
		{"read a set register as null", four, registerInput{f: registerRead}, registerOutput{}, false, four},
		{"write", absent, registerInput{f: registerWrite, arg: 5}, registerOutput{}, true, five},
		{"info write", four, registerInput{f: registerWrite, arg: 5}, registerOutput{unknown: true}, true, five},
		{"cas that finds its value", four, registerInput{f: registerCAS, expected: 4, arg: 5}, registerOutput{}, true, five},
		{"ok cas that finds another value", five, registerInput{f: registerCAS, expected: 4, arg: 5}, registerOutput{}, false, five},
		{"ok cas on an absent register", absent, registerInput{f: registerCAS, expected: 0, arg: 5}, registerOutput{}, false, absent},
		{"info cas that finds its value", four, registerInput{f: registerCAS, expected: 4, arg: 5}, registerOutput{unknown: true}, true, five},
		{"info cas that finds another value", absent, registerInput{f: registerCAS, expected: 4, arg: 5}, registerOutput{unknown: true}, true, absent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			legal, next := registerStep(tt.state, tt.in, tt.out)
			if legal != tt.legal {
				t.Fatalf("legal = %v, want %v", legal, tt.legal)
			}
			if legal && next != tt.next {
				t.Errorf("next state = %v, want %v", next, tt.next)
			}
		})
	}
}

func TestDescribeRegisterOp(t *testing.T) {
	tests := []struct {
		in   registerInput
		out  registerOutput
		want string
	}{
		{registerInput{f: registerRead}, registerOutput{value: 5, present: true}, "read -> 5"},
		{registerInput{f: registerRead}, registerOutput{}, "read -> null"},
		{registerInput{f: registerWrite, arg: 5}, registerOutput{}, "write 5"},
		{registerInput{f: registerWrite, arg: 5}, registerOutput{unknown: true}, "write 5 (info)"},
		{registerInput{f: registerCAS, expected: 4, arg: 5}, registerOutput{}, "cas 4->5"},
	}
	for _, tt := range tests {
		if got := describeRegisterOp(tt.in, tt.out); got != tt.want {
			t.Errorf("describe %+v %+v = %q, want %q", tt.in, tt.out, got, tt.want)
		}
	}
}
