// Package pending matches the results of replicated commands to the RPCs
// waiting for them. A server registers a request id before it proposes a
// command carrying that id; the state machine, applying the command on
// every replica, delivers its result under the id; only the replica whose
// RPC registered the id has anyone to hand it to.
package pending

import "sync"

// Results holds the waiting RPCs of one state machine.
type Results[T any] struct {
	mu      sync.Mutex
	waiters map[uint64]chan<- T
}

// Wait registers interest in the result for id. The channel receives at
// most one value.
func (r *Results[T]) Wait(id uint64) <-chan T {
	ch := make(chan T, 1)
	r.mu.Lock()
	if r.waiters == nil {
		r.waiters = make(map[uint64]chan<- T)
	}
	r.waiters[id] = ch
	r.mu.Unlock()
	return ch
}

// Forget drops the registration for id (the RPC gave up, or got its
// result).
func (r *Results[T]) Forget(id uint64) {
	r.mu.Lock()
	delete(r.waiters, id)
	r.mu.Unlock()
}

// Deliver hands result to whoever waits for id, if anyone does. It never
// blocks.
func (r *Results[T]) Deliver(id uint64, result T) {
	r.mu.Lock()
	ch := r.waiters[id]
	delete(r.waiters, id)
	r.mu.Unlock()
	if ch != nil {
		ch <- result
	}
}
