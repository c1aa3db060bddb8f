package etcd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func sum(balances map[string]int64) int64 {
	var total int64
	for _, b := range balances {
		total += b
	}
	return total
}

func TestCreateAccountsTwiceChangesNothing(t *testing.T) {
	c := sharedCluster(t)
	k := namespace(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	accounts := []string{k("a"), k("b")}
	if err := s.CreateAccounts(ctx, map[string]int64{k("a"): 10, k("b"): 20}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Transfer(ctx, k("a"), k("b"), 5); err != nil {
		t.Fatal(err)
	}
	// Re-running creation, say after an unknown outcome, leaves existing
	// accounts alone and adds only the missing one.
	if err := s.CreateAccounts(ctx, map[string]int64{k("a"): 10, k("b"): 20, k("c"): 30}); err != nil {
		t.Fatal(err)
	}
	got, rev, err := s.Balances(ctx, append(accounts, k("c"), k("never")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{k("a"): 5, k("b"): 25, k("c"): 30}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("balances = %v, want %v (an absent account is left out)", got, want)
	}
	if rev <= 0 {
		t.Errorf("balances read at revision %d", rev)
	}
}

func TestTransferRefusesToOverdraw(t *testing.T) {
	c := sharedCluster(t)
	k := namespace(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if err := s.CreateAccounts(ctx, map[string]int64{k("a"): 3, k("b"): 0}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Transfer(ctx, k("a"), k("b"), 4)
	if !errors.Is(err, ErrInsufficientFunds) || !Definite(err) {
		t.Fatalf("overdrawing transfer = %v (definite %v); want ErrInsufficientFunds, definite", err, Definite(err))
	}
	if _, _, err := s.Transfer(ctx, k("a"), k("b"), 3); err != nil {
		t.Fatalf("transfer of the whole balance: %v", err)
	}
	got, _, err := s.Balances(ctx, []string{k("a"), k("b")})
	if err != nil {
		t.Fatal(err)
	}
	if got[k("a")] != 0 || got[k("b")] != 3 {
		t.Errorf("balances = %v, want a:0 b:3", got)
	}
	for _, bad := range []struct {
		from, to string
		amount   int64
	}{{k("a"), k("a"), 1}, {k("b"), k("a"), 0}, {k("b"), k("a"), -1}, {k("b"), k("nobody"), 1}} {
		if _, _, err := s.Transfer(ctx, bad.from, bad.to, bad.amount); err == nil || !Definite(err) {
			t.Errorf("transfer %d from %s to %s = %v; want a definite refusal", bad.amount, bad.from, bad.to, err)
		}
	}
}

// A transfer whose accounts change between its read and its commit writes
// nothing and says so definitely.
func TestTransferConflictIsDefiniteAndWritesNothing(t *testing.T) {
	c := sharedCluster(t)
	k := namespace(t)
	s := dial(t, c, StoreOptions{})
	other := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if err := s.CreateAccounts(ctx, map[string]int64{k("a"): 10, k("b"): 10}); err != nil {
		t.Fatal(err)
	}
	s.betweenReadAndCommit = func() {
		s.betweenReadAndCommit = nil
		if _, _, err := other.Transfer(ctx, k("b"), k("a"), 7); err != nil {
			t.Error(err)
		}
	}
	_, _, err := s.Transfer(ctx, k("a"), k("b"), 2)
	if !errors.Is(err, ErrConflict) || !Definite(err) {
		t.Fatalf("transfer raced by another = %v (definite %v); want ErrConflict, definite", err, Definite(err))
	}
	got, _, err := s.Balances(ctx, []string{k("a"), k("b")})
	if err != nil {
		t.Fatal(err)
	}
	if got[k("a")] != 17 || got[k("b")] != 3 {
		t.Errorf("balances = %v, want only the other transfer applied (a:17 b:3)", got)
	}
}

// Concurrent clients transferring at random never change the total or
// overdraw an account, whatever mix of successes and conflicts they meet.
func TestConcurrentTransfersKeepTheTotal(t *testing.T) {
	c := sharedCluster(t)
	k := namespace(t)
	ctx := testContext(t)
	accounts := []string{k("a"), k("b"), k("c"), k("d")}
	initial := map[string]int64{}
	for _, a := range accounts {
		initial[a] = 25
	}
	if err := dial(t, c, StoreOptions{}).CreateAccounts(ctx, initial); err != nil {
		t.Fatal(err)
	}

	const clients, transfersEach = 4, 20
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		ok, conflicts, nsf int
	)
	for i := range clients {
		s := dial(t, c, StoreOptions{})
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		wg.Go(func() {
			for range transfersEach {
				from, to := accounts[rng.IntN(len(accounts))], accounts[rng.IntN(len(accounts))]
				if from == to {
					continue
				}
				_, _, err := s.Transfer(ctx, from, to, 1+rng.Int64N(10))
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrConflict):
					conflicts++
				case errors.Is(err, ErrInsufficientFunds):
					nsf++
				default:
					// A timeout on a busy machine is possible and
					// harmless here: a transfer is one transaction,
					// so either way the total holds.
					t.Logf("transfer of unknown outcome: %v", err)
				}
				mu.Unlock()
				balances, _, err := s.Balances(ctx, accounts)
				if err != nil {
					t.Error(err)
					return
				}
				if total := sum(balances); total != 100 {
					t.Errorf("total is %d, not 100: %v", total, balances)
				}
				for a, b := range balances {
					if b < 0 {
						t.Errorf("account %s overdrawn: %v", a, balances)
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d transfers applied, %d conflicted, %d refused for funds", ok, conflicts, nsf)
}
