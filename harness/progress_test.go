package harness

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/history"
)

// TestProgressSeparatesRefusals: a cas that found another value is the
// normal case, counted as refused, apart from failures with errors.
func TestProgressSeparatesRefusals(t *testing.T) {
	c := &counters{}
	c.add(history.Op{Type: history.OK})
	c.add(history.Op{Type: history.Fail, Error: "cas: value differs"})
	c.add(history.Op{Type: history.Fail, Error: "cas: value differs"})
	c.add(history.Op{Type: history.Fail, Error: "not leader"})
	c.add(history.Op{Type: history.Info, Error: "timeout"})
	var out bytes.Buffer
	p := newProgress(&out, time.Minute, c)
	p.started = time.Now()
	p.print(time.Now(), 5)
	if line := out.String(); !strings.Contains(line, "ok 1 refused 2 fail 1 info 1") {
		t.Errorf("progress %q, want ok 1 refused 2 fail 1 info 1", line)
	}
	if c.total() != 5 {
		t.Errorf("total %d, want 5", c.total())
	}
}
