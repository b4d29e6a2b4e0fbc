package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	clientv3 "go.etcd.io/etcd/client/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/etcd"
)

// TestEtcdClusterFaultsUnderLoad runs the etcd production runs — three
// members, TLS, authentication, auto-compaction every 2 s — under a client
// calling two registered servers, and takes it through a follower killed,
// the leader killed, the leader cut off from the other two (partition),
// and a rolling restart of all three members: no call
// fails, no registration is granted again (each key keeps its first lease:
// keepalives and the registry's own-key watches move to another member,
// past compacted revisions, without a re-grant), and the resolver's sync
// age stays bounded.
func TestEtcdClusterFaultsUnderLoad(t *testing.T) {
	var logs syncBuffer
	klog.SetOutput(&logs)
	defer klog.SetOutput(os.Stderr)
	cl := harness.StartEtcdCluster(t)
	cl.User(t, "kitex", "kitex-pw", etcd.DefaultPrefix+"/")
	regCli := cl.Client(t, "kitex", "kitex-pw")
	reg := etcd.NewRegistry(regCli, etcd.WithDrainDelay(0))
	s1, s2 := startRegistered(t, "echo", reg), startRegistered(t, "echo", reg)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := etcd.NewResolver(cl.Client(t, "kitex", "kitex-pw"), etcd.WithProgressInterval(time.Second),
		etcd.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	awaitResolved(t, r, "echo", "two servers", hasExactly(s1.Addr, s2.Addr))
	root := cl.Client(t, "root", "harness-root")
	keys := []string{etcd.DefaultPrefix + "/echo/" + s1.Addr, etcd.DefaultPrefix + "/echo/" + s2.Addr}
	leases := map[string]clientv3.LeaseID{}
	for _, k := range keys {
		leases[k] = awaitLeaseAny(t, root, k)
	}

	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 200)
	maxAge := 0.0
	step := func(what string) {
		t.Helper()
		l.waitCalls(t, 200)
		maxAge = max(maxAge, syncAge(t, reader))
		t.Logf("%s: %d calls so far, sync age %.1fs", what, l.calls.Load(), syncAge(t, reader))
	}
	f := cl.Follower(t)
	f.Stop()
	step("follower " + f.Name() + " killed")
	f.Start(t)
	step("follower back")
	leader := cl.Leader(t)
	leader.Stop()
	step("leader " + leader.Name() + " killed")
	leader.Start(t)
	step("leader back")
	partition(t, cl, step)
	for _, m := range cl.Members {
		m.Stop()
		step(m.Name() + " stopped (rolling restart)")
		m.Start(t)
		step(m.Name() + " back")
	}
	l.finish(t)
	for _, k := range keys {
		if got := leaseOf(t, root, k); got != leases[k] {
			t.Errorf("%s is held by lease %x, want its first lease %x: the registration was granted again:\n%s", k, got, leases[k], logs.String())
		}
	}
	if maxAge > 10 {
		t.Errorf("sync age reached %.1fs during the faults, want under 10 s (progress every 1 s)", maxAge)
	}
	awaitResolved(t, r, "echo", "two servers after the faults", hasExactly(s1.Addr, s2.Addr))
	for _, s := range []*countedServer{s1, s2} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// partition cuts the leader off from the other two members while the load
// runs, checks that the partition is real — the cut-off member steps down
// and sees no leader, the other two elect one of theirs, and that lasts
// through a step of the load — then heals it.
func partition(t *testing.T, cl *harness.EtcdCluster, step func(string)) {
	t.Helper()
	cut := cl.Leader(t)
	refused := cl.PeerConnectionsRefused()
	cl.Isolate(cut)
	var seen *harness.EtcdMember
	deadline := time.Now().Add(15 * time.Second)
	for {
		seen = nil
		for _, m := range cl.Members {
			if l := cl.LeaderSeenBy(m); m != cut && l != nil && l != cut {
				seen = l
			}
		}
		if seen != nil && cl.LeaderSeenBy(cut) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cut off: after 15 s it sees leader %s and the others %s, want none and one of theirs", cut.Name(), memberName(cl.LeaderSeenBy(cut)), memberName(seen))
		}
		time.Sleep(20 * time.Millisecond)
	}
	step(cut.Name() + " cut off (leader before), " + seen.Name() + " leads the other two")
	if l := cl.LeaderSeenBy(cut); l != nil {
		t.Fatalf("%s, cut off, took %s for the leader during the load: the partition leaked", cut.Name(), l.Name())
	}
	if cl.PeerConnectionsRefused() == refused {
		t.Fatalf("the partition of %s cut or refused no peer connection", cut.Name())
	}
	cl.Heal()
	deadline = time.Now().Add(15 * time.Second)
	for cl.LeaderSeenBy(cut) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s sees no leader 15 s after the partition healed", cut.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
	step(cut.Name() + " back in the cluster")
}

// memberName is m's name, or "none".
func memberName(m *harness.EtcdMember) string {
	if m == nil {
		return "none"
	}
	return m.Name()
}
