package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/workloads/ops"
)

// registerClient runs the register workload on the store: a read is a
// Get (at the client's home node, which serves it by ReadIndex), a write
// a Put, a cas the store's CompareAndSet. Values are decimal strings.
type registerClient struct{ c *kv.Client }

func (c *registerClient) Close() error { return c.c.Close() }

func (c *registerClient) Invoke(ctx context.Context, op history.Op) history.Op {
	r, err := ops.DecodeRegister(&op)
	if err != nil {
		return ops.Complete(op, history.Fail, nil, err)
	}
	switch r.F {
	case ops.Read:
		resp, err := c.c.Get(ctx, r.Key)
		if err != nil {
			// A read has no effect: whatever went wrong, it failed.
			return ops.Complete(op, history.Fail, nil, err)
		}
		if !resp.Found {
			return ops.Complete(op, history.OK, ops.ReadValue(r.Key, 0, false), nil)
		}
		v, err := strconv.ParseInt(string(resp.Kv.Value), 10, 64)
		if err != nil {
			return ops.Complete(op, history.Fail, nil, fmt.Errorf("read %s: value %q is not an integer", r.Key, resp.Kv.Value))
		}
		return ops.Complete(op, history.OK, ops.ReadValue(r.Key, v, true), nil)
	case ops.Write:
		_, err := c.c.Put(ctx, r.Key, []byte(strconv.FormatInt(r.Value, 10)))
		return outcome(op, op.Value, err)
	default:
		swapped, _, err := c.c.CompareAndSet(ctx, r.Key, []byte(strconv.FormatInt(r.Expected, 10)), []byte(strconv.FormatInt(r.Value, 10)))
		if err == nil && !swapped {
			return ops.Complete(op, history.Fail, op.Value, errors.New(ops.CASValueDiffers))
		}
		return outcome(op, op.Value, err)
	}
}

// outcome completes an operation that may have changed the store: a
// failure the store reports as definite (kv.ErrDefinite) is fail, any
// other error info.
func outcome(op history.Op, value any, err error) history.Op {
	if err != nil && errors.Is(err, kv.ErrDefinite) {
		err = ops.Definite(err)
	}
	return ops.Outcome(op, value, err)
}
