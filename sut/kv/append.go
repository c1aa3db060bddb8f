package kv

import (
	"context"
	"fmt"
	"strconv"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/sut/internal/squallnode"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/workloads/ops"
)

// appendClient runs list-append on the KV store: a transaction is one
// Txn, whose operations the store applies in order, atomically. A list is
// stored as its elements, each followed by a comma ("1,2,7,"), so an
// append is the store's Append of "7,".
type appendClient struct{ c *kv.Client }

func (c *appendClient) Close() error { return c.c.Close() }

// Invoke implements Client.
func (c *appendClient) Invoke(ctx context.Context, op history.Op) history.Op {
	mops, err := ops.TxnRequest(op)
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	req := &kvpb.TxnRequest{Success: make([]*kvpb.Op, len(mops))}
	for i, m := range mops {
		if m.F == "r" {
			req.Success[i] = &kvpb.Op{Op: &kvpb.Op_Get{Get: &kvpb.GetRequest{Key: m.Key}}}
			continue
		}
		elem := strconv.FormatInt(m.Elem, 10) + ","
		req.Success[i] = &kvpb.Op{Op: &kvpb.Op_Append{Append: &kvpb.AppendRequest{Key: m.Key, Value: []byte(elem)}}}
	}
	resp, err := c.c.Txn(ctx, req)
	if err == nil {
		err = checkResults(resp, len(mops))
	}
	if err != nil {
		return outcome(op, op.Value, err)
	}
	done := make([]any, len(mops))
	for i, m := range mops {
		if m.F == "append" {
			done[i] = []any{"append", m.Key, m.Elem}
			continue
		}
		get := resp.Results[i].GetGet()
		if get == nil {
			// The Txn committed, its appends with it: this is no failure.
			return ops.Complete(op, history.Info, op.Value, fmt.Errorf("micro-op %d: the Txn answered %v, not a Get result", i, resp.Results[i]))
		}
		var value []byte
		if get.Found {
			value = get.Kv.Value
		}
		list, err := squallnode.ParseList(value)
		if err != nil {
			return ops.Complete(op, history.Info, op.Value, fmt.Errorf("micro-op %d: read %s: %w", i, m.Key, err))
		}
		done[i] = []any{"r", m.Key, list}
	}
	return ops.Complete(op, history.OK, done, nil)
}
