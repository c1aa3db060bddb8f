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
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	accounts := []string{"bank1/a", "bank1/b"}
	if err := s.CreateAccounts(ctx, map[string]int64{"bank1/a": 10, "bank1/b": 20}); err != nil {
		t.Fatal(err)
	}
	if err := s.Transfer(ctx, "bank1/a", "bank1/b", 5); err != nil {
		t.Fatal(err)
	}
	// Re-running creation, say after an unknown outcome, leaves existing
	// accounts alone and adds only the missing one.
	if err := s.CreateAccounts(ctx, map[string]int64{"bank1/a": 10, "bank1/b": 20, "bank1/c": 30}); err != nil {
		t.Fatal(err)
	}
	got, rev, err := s.Balances(ctx, append(accounts, "bank1/c", "bank1/never"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"bank1/a": 5, "bank1/b": 25, "bank1/c": 30}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("balances = %v, want %v (an absent account is left out)", got, want)
	}
	if rev <= 0 {
		t.Errorf("balances read at revision %d", rev)
	}
}

func TestTransferRefusesToOverdraw(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if err := s.CreateAccounts(ctx, map[string]int64{"bank2/a": 3, "bank2/b": 0}); err != nil {
		t.Fatal(err)
	}
	err := s.Transfer(ctx, "bank2/a", "bank2/b", 4)
	if !errors.Is(err, ErrInsufficientFunds) || !Definite(err) {
		t.Fatalf("overdrawing transfer = %v (definite %v); want ErrInsufficientFunds, definite", err, Definite(err))
	}
	if err := s.Transfer(ctx, "bank2/a", "bank2/b", 3); err != nil {
		t.Fatalf("transfer of the whole balance: %v", err)
	}
	got, _, err := s.Balances(ctx, []string{"bank2/a", "bank2/b"})
	if err != nil {
		t.Fatal(err)
	}
	if got["bank2/a"] != 0 || got["bank2/b"] != 3 {
		t.Errorf("balances = %v, want a:0 b:3", got)
	}
	for _, bad := range []struct {
		from, to string
		amount   int64
	}{{"bank2/a", "bank2/a", 1}, {"bank2/b", "bank2/a", 0}, {"bank2/b", "bank2/a", -1}, {"bank2/b", "bank2/nobody", 1}} {
		if err := s.Transfer(ctx, bad.from, bad.to, bad.amount); err == nil || !Definite(err) {
			t.Errorf("transfer %d from %s to %s = %v; want a definite refusal", bad.amount, bad.from, bad.to, err)
		}
	}
}

// A transfer whose accounts change between its read and its commit writes
// nothing and says so definitely.
func TestTransferConflictIsDefiniteAndWritesNothing(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})
	other := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if err := s.CreateAccounts(ctx, map[string]int64{"bank3/a": 10, "bank3/b": 10}); err != nil {
		t.Fatal(err)
	}
	s.betweenReadAndCommit = func() {
		s.betweenReadAndCommit = nil
		if err := other.Transfer(ctx, "bank3/b", "bank3/a", 7); err != nil {
			t.Error(err)
		}
	}
	err := s.Transfer(ctx, "bank3/a", "bank3/b", 2)
	if !errors.Is(err, ErrConflict) || !Definite(err) {
		t.Fatalf("transfer raced by another = %v (definite %v); want ErrConflict, definite", err, Definite(err))
	}
	got, _, err := s.Balances(ctx, []string{"bank3/a", "bank3/b"})
	if err != nil {
		t.Fatal(err)
	}
	if got["bank3/a"] != 17 || got["bank3/b"] != 3 {
		t.Errorf("balances = %v, want only the other transfer applied (a:17 b:3)", got)
	}
}

// Concurrent clients transferring at random never change the total or
// overdraw an account, whatever mix of successes and conflicts they meet.
func TestConcurrentTransfersKeepTheTotal(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)
	accounts := []string{"bank4/a", "bank4/b", "bank4/c", "bank4/d"}
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
				err := s.Transfer(ctx, from, to, 1+rng.Int64N(10))
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
