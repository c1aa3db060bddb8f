package etcd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Leader asks every member in endpoints (member name -> client "host:port")
// for its status and returns the name of the leader that the answers with
// the highest raft term name. It is "" with a nil error when members
// answered but none knows a leader yet (an election is under way), and an
// error only when no member answered.
//
// Members are asked in parallel. A member that is down fails its question
// at once; one that is paused or cut off fails it after statusTimeout.
func Leader(ctx context.Context, endpoints map[string]string) (string, error) {
	if len(endpoints) == 0 {
		return "", errors.New("etcd: leader: no endpoints given")
	}
	client, err := probeClient(endpoints)
	if err != nil {
		return "", err
	}
	defer client.Close()

	type answer struct {
		name string
		resp *pb.StatusResponse
		err  error
	}
	answers := make(chan answer, len(endpoints))
	var wg sync.WaitGroup
	for name, ep := range endpoints {
		wg.Go(func() {
			resp, err := memberStatus(ctx, client, ep)
			answers <- answer{name, resp, err}
		})
	}
	wg.Wait()
	close(answers)

	var (
		names        = map[uint64]string{} // member ID -> name, from the answers
		leader, term uint64
		answered     int
		errs         []error
	)
	for a := range answers {
		if a.err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", a.name, endpoints[a.name], a.err))
			continue
		}
		answered++
		names[a.resp.Header.MemberId] = a.name
		// A member cut off from the others may still believe in the
		// leader of an old term; the newest term's leader is the one
		// that can commit.
		if a.resp.Leader != 0 && a.resp.RaftTerm >= term {
			leader, term = a.resp.Leader, a.resp.RaftTerm
		}
	}
	if answered == 0 {
		return "", fmt.Errorf("etcd: leader: no member answered: %w", errors.Join(errs...))
	}
	if leader == 0 {
		return "", nil
	}
	if name, ok := names[leader]; ok {
		return name, nil
	}
	// The leader itself did not answer (paused, or partitioned from the
	// harness but not from its peers); the member list names it.
	listCtx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	members, err := client.MemberList(listCtx)
	if err != nil {
		return "", fmt.Errorf("etcd: leader: member %x leads but did not answer, and the member list failed: %w", leader, err)
	}
	for _, m := range members.Members {
		if m.ID == leader {
			return m.Name, nil
		}
	}
	return "", fmt.Errorf("etcd: leader: member %x leads but is not in the member list", leader)
}

// Serving returns nil if the cluster has a leader and answers a
// linearizable read, which needs a quorum: the harness's test that the
// cluster is up, before a run and after healing a fault.
func Serving(ctx context.Context, endpoints map[string]string) error {
	leader, err := Leader(ctx, endpoints)
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("etcd: serving: no leader known yet")
	}
	client, err := probeClient(endpoints)
	if err != nil {
		return err
	}
	defer client.Close()
	getCtx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	if _, err := client.Get(getCtx, "squall/serving-probe"); err != nil {
		return fmt.Errorf("etcd: serving: leader %s known, but a linearizable read failed: %w", leader, err)
	}
	return nil
}

// memberStatus asks the member at endpoint alone for its status. clientv3's own
// Status waits for the member to become reachable (its calls are
// WaitForReady) until ctx ends; a harness asking who leads while a member is
// down wants that member's refusal at once, so this uses the raw gRPC
// service, whose calls fail fast when the connection is refused.
func memberStatus(ctx context.Context, client *clientv3.Client, endpoint string) (*pb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	conn, err := client.Dial(endpoint)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return pb.NewMaintenanceClient(conn).Status(ctx, &pb.StatusRequest{})
}

// statusTimeout bounds one question to one member: a paused member never
// answers, and the harness asks who leads in the middle of faults.
const statusTimeout = 2 * time.Second

func probeClient(endpoints map[string]string) (*clientv3.Client, error) {
	eps := slices.Sorted(maps.Values(endpoints))
	client, err := clientv3.New(clientv3.Config{Endpoints: eps, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect to %v: %w", eps, err)
	}
	return client, nil
}
