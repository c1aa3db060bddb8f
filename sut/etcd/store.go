package etcd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// StoreOptions configures one client process's connection.
type StoreOptions struct {
	// SerializableReads makes Read (the register read, and nothing else)
	// answer from whichever member the client is connected to, without
	// asking the leader whether its data is current. It is a planted
	// misconfiguration: behind a partition such reads are stale, and
	// squall's linearizability checker must say so.
	SerializableReads bool
	// DialTimeout bounds the client's setup calls. clientv3 v3.7 connects
	// lazily, so Dial succeeds while the cluster is down and the first
	// operation waits for a connection under its own context instead.
	DialTimeout time.Duration
}

// Store is one client process's connection to the cluster.
type Store struct {
	client       *clientv3.Client
	serializable bool
	// betweenReadAndCommit, if set, runs after Transfer or Txn read and
	// before they commit. Only tests set it, to write a key in between
	// and see the guard fail without depending on a race.
	betweenReadAndCommit func()
}

func (s *Store) readDone() {
	if s.betweenReadAndCommit != nil {
		s.betweenReadAndCommit()
	}
}

// Keep-alive pings let the client notice a member that went silent (paused
// or partitioned away) and move to another endpoint. etcd's server answers
// pings sent more often than every 5s (its --grpc-keepalive-min-time) by
// closing the connection, so the interval stays above that.
const (
	keepAliveTime    = 10 * time.Second
	keepAliveTimeout = 3 * time.Second
)

// Dial connects a Store to the cluster's client endpoints ("host:port" or
// "http://host:port").
func Dial(endpoints []string, opts StoreOptions) (*Store, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: dial: no endpoints given")
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		// Every error reaches the history through the caller; the
		// client's own retry warnings would only repeat them on stderr.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: dial %v: %w", endpoints, err)
	}
	return &Store{client: client, serializable: opts.SerializableReads}, nil
}

// Close ends the connection; operations still running fail.
func (s *Store) Close() error { return s.client.Close() }

// Read returns the register at key; found is false if it was never
// written.
func (s *Store) Read(ctx context.Context, key string) (value int64, found bool, err error) {
	var opts []clientv3.OpOption
	if s.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := s.client.Get(ctx, key, opts...)
	if err != nil {
		return 0, false, fmt.Errorf("etcd: read %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	value, err = parseInt(key, resp.Kvs[0].Value)
	return value, err == nil, err
}

// Write sets the register at key.
func (s *Store) Write(ctx context.Context, key string, value int64) error {
	if _, err := s.client.Put(ctx, key, formatInt(value)); err != nil {
		return fmt.Errorf("etcd: write %q: %w", key, err)
	}
	return nil
}

// CAS sets the register at key to to if it holds from, in one etcd
// transaction. A register that holds something else, or was never
// written, is left alone and swapped is false with a nil error: etcd
// answered, and the answer was no.
func (s *Store) CAS(ctx context.Context, key string, from, to int64) (swapped bool, err error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", formatInt(from))).
		Then(clientv3.OpPut(key, formatInt(to))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("etcd: cas %q from %d to %d: %w", key, from, to, err)
	}
	return resp.Succeeded, nil
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

// parseInt reads a stored value. Anything but a decimal int64 means
// something other than squall wrote the key, which the caller should hear
// about by name.
func parseInt(key string, stored []byte) (int64, error) {
	v, err := strconv.ParseInt(string(stored), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd: key %q holds %q, not a decimal integer", key, stored)
	}
	return v, nil
}
