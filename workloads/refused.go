package workloads

import (
	"strings"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// refusals are the errors of operations the system refused because the
// operation itself asked it to: a cas that found another value, a
// transfer from an account without the funds, a transaction that lost a
// conflict. A correct system under contention refuses many; they are
// outcomes, not errors.
var refusals = []string{ops.CASValueDiffers, "insufficient funds", "conflict"}

// Refused reports whether op, a completion, is a refusal rather than an
// error: it failed, and said so for one of the reasons above.
func Refused(op history.Op) bool {
	if op.Type != history.Fail {
		return false
	}
	for _, r := range refusals {
		if strings.Contains(op.Error, r) {
			return true
		}
	}
	return false
}
