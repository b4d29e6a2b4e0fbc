package e2e

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/consul"
)

// watchSet samples what r resolves for target every 10 ms until stop is
// called, which returns the fewest of want's addresses any sample held.
func watchSet(t *testing.T, r discovery.Resolver, target string, want ...string) (stop func() int) {
	t.Helper()
	fewest := atomic.Int64{}
	fewest.Store(int64(len(want)))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			res, err := r.Resolve(context.Background(), target)
			if err != nil {
				continue
			}
			got := addrs(res)
			n := 0
			for _, w := range want {
				if slices.Contains(got, w) {
					n++
				}
			}
			if int64(n) < fewest.Load() {
				fewest.Store(int64(n))
			}
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return int(fewest.Load())
	}
}

// TestConsulClusterClientAgentRestart runs three Consul servers and two
// client agents; two Kitex servers register through agent A, one through
// agent B, and the client resolves through B. Agent A crashes and comes
// back, once with its data dir and once without (an emptyDir): no call
// fails, and the client's set never loses A's servers, which ran on
// throughout — their node's serfHealth failing, then (without the data
// dir) their services vanishing with the index moving forward, must not
// empty them from the balancer before the registry has registered them
// again.
func TestConsulClusterClientAgentRestart(t *testing.T) {
	cl := harness.StartConsulCluster(t)
	a, b := cl.Clients[0], cl.Clients[1]
	regA := consul.NewRegistry(a.Client(t), consul.WithDrainDelay(0))
	regB := consul.NewRegistry(b.Client(t), consul.WithDrainDelay(0))
	s1, s2, s3 := startRegistered(t, "echo", regA), startRegistered(t, "echo", regA), startRegistered(t, "echo", regB)
	r := consul.NewResolver(b.Client(t))
	defer r.Close()
	awaitResolved(t, r, "echo", "three servers through two agents", hasExactly(s1.Addr, s2.Addr, s3.Addr))
	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 100)

	for _, wiped := range []bool{false, true} {
		stop := watchSet(t, r, "echo", s1.Addr, s2.Addr)
		a.Kill()
		if wiped {
			a.RestartWiped(t)
		} else {
			a.Restart(t)
		}
		// Known to the restarted agent again (the registry's next heartbeat
		// registers them when the data dir is gone) and passing.
		awaitAgentServices(t, a.Client(t), 2, 30*time.Second)
		awaitServicePassing(t, b.Client(t), "echo", 3)
		l.waitCalls(t, 100)
		if fewest := stop(); fewest != 2 {
			t.Errorf("agent A restarted (data dir wiped: %v): the client's set dropped to %d of A's 2 running servers", wiped, fewest)
		}
	}
	l.finish(t)
	for _, s := range []*countedServer{s1, s2, s3} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsulClusterLeaderLoss kills the servers' raft leader under load:
// the two others elect a new one, no call fails, and the resolver follows
// a change made afterwards.
func TestConsulClusterLeaderLoss(t *testing.T) {
	cl := harness.StartConsulCluster(t)
	a, b := cl.Clients[0], cl.Clients[1]
	reg := consul.NewRegistry(a.Client(t), consul.WithDrainDelay(0))
	s1, s2 := startRegistered(t, "echo", reg), startRegistered(t, "echo", reg)
	r := consul.NewResolver(b.Client(t))
	defer r.Close()
	awaitResolved(t, r, "echo", "two servers", hasExactly(s1.Addr, s2.Addr))
	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 100)
	leader := cl.Leader(t)
	leader.Kill()
	l.waitCalls(t, 100)
	s3 := startRegistered(t, "echo", reg) // written through the new leader
	awaitResolved(t, r, "echo", "the server registered after the leader loss", hasExactly(s1.Addr, s2.Addr, s3.Addr))
	l.finish(t)
	for _, s := range []*countedServer{s1, s2, s3} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// awaitServicePassing waits until Consul lists n passing instances of service.
func awaitServicePassing(t *testing.T, cli *api.Client, service string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _, err := cli.Health().Service(service, "", true, nil)
		if err == nil && len(entries) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d passing instances after 30 s (%v), want %d", service, len(entries), err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
