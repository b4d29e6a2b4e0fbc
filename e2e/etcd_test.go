package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	clientv3 "go.etcd.io/etcd/client/v3"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/etcd"
)

// keysUnder lists the keys under prefix.
func keysUnder(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	resp, err := cli.Get(deadline(t, 5*time.Second), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = string(kv.Key)
	}
	return out
}

// leaseOf returns the lease holding key (0 when the key is missing).
func leaseOf(t *testing.T, cli *clientv3.Client, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(deadline(t, 5*time.Second), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// awaitLease polls until key is held by a lease other than old.
func awaitLease(t *testing.T, cli *clientv3.Client, key string, old clientv3.LeaseID, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := cli.Get(ctx, key) // fails while the client reconnects
		cancel()
		if err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != 0 && clientv3.LeaseID(resp.Kvs[0].Lease) != old {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s was not registered again within %v", key, within)
	return 0
}

func TestEtcdRegisterDiscoverCallDeregister(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	reg := etcd.NewRegistry(cli, etcd.WithDrainDelay(300*time.Millisecond))
	a := startRegistered(t, "echo", reg)
	b := startRegistered(t, "echo", reg)
	r := etcd.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "echo", "both servers", hasExactly(a.Addr, b.Addr))

	c := resolvedClient(t, "echo", r)
	callAll(t, c, 20, a, b)

	if err := a.Stop(); err != nil { // Deregister, drain, close
		t.Fatal(err)
	}
	if keys := keysUnder(t, cli, etcd.DefaultPrefix+"/echo/"); len(keys) != 1 || !strings.HasSuffix(keys[0], b.Addr) {
		t.Fatalf("after deregister the keys are %v, want only %s", keys, b.Addr)
	}
	awaitResolved(t, r, "echo", "only b", hasExactly(b.Addr))
	before := a.calls.Load()
	for range 20 {
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.calls.Load(); got != before {
		t.Fatalf("the deregistered server got %d new calls", got-before)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	// Empty is delivered as empty, not as an error or the last set.
	awaitResolved(t, r, "echo", "no servers", hasExactly())
}

func TestEtcdSeveralServicesOnOneRegistry(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	reg := etcd.NewRegistry(cli, etcd.WithDrainDelay(0))
	a := startRegistered(t, "alpha", reg)
	b := startRegistered(t, "beta", reg)
	r := etcd.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "alpha", "alpha", hasExactly(a.Addr))
	awaitResolved(t, r, "beta", "beta", hasExactly(b.Addr))
	if err := echoOnce(resolvedClient(t, "beta", r)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*countedServer{a, b} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEtcdRegistrationHeals(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	reg := etcd.NewRegistry(cli, etcd.WithDrainDelay(0), etcd.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	s := startRegistered(t, "echo", reg)
	defer s.Stop()
	key := etcd.DefaultPrefix + "/echo/" + s.Addr
	old := awaitLeaseAny(t, cli, key)

	t.Run("key deleted by an operator", func(t *testing.T) {
		if _, err := cli.Delete(deadline(t, 5*time.Second), key); err != nil {
			t.Fatal(err)
		}
		awaitLease(t, cli, key, old, 10*time.Second)
		old = leaseOf(t, cli, key)
	})
	t.Run("lease revoked by an operator", func(t *testing.T) {
		if _, err := cli.Revoke(deadline(t, 5*time.Second), old); err != nil {
			t.Fatal(err)
		}
		awaitLease(t, cli, key, old, 10*time.Second)
		old = leaseOf(t, cli, key)
	})
	t.Run("key overwritten by another writer", func(t *testing.T) {
		if _, err := cli.Put(deadline(t, 5*time.Second), key, `{"address":"`+s.Addr+`"}`); err != nil {
			t.Fatal(err)
		}
		awaitLease(t, cli, key, old, 10*time.Second)
	})
	// The registry self-metrics count exactly those three losses. They are
	// recorded once the new lease's keepalive and watches run, a moment
	// after the key is visible: wait for the third re-registration.
	want := map[string]int64{
		"kitexsuite.registry.registered":              1,
		"kitexsuite.registry.reregistrations":         3,
		"kitexsuite.registry.heartbeat.failures/lost": 3,
	}
	got := registryCounters(t, reader)
	for start := time.Now(); got["kitexsuite.registry.reregistrations"] < 3 && time.Since(start) < 10*time.Second; got = registryCounters(t, reader) {
		time.Sleep(10 * time.Millisecond)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// registryCounters sums the registry self-metrics by name (and error.type).
func registryCounters(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && strings.HasPrefix(m.Name, "kitexsuite.registry.") {
				for _, dp := range s.DataPoints {
					key := m.Name
					if v, ok := dp.Attributes.Value("error.type"); ok {
						key += "/" + v.AsString()
					}
					out[key] += dp.Value
				}
			}
		}
	}
	return out
}

// TestEtcdLeaseExpiryHeals partitions a server's registry from etcd for
// longer than its lease TTL: etcd expires the lease and deletes the key,
// clients stop seeing the server, and once the partition heals the registry
// registers it again under a new lease.
func TestEtcdLeaseExpiryHeals(t *testing.T) {
	srv := harness.StartEtcd(t)
	admin := srv.Client(t)
	proxy := harness.StartProxy(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.URL()}, DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{harness.ReconnectQuickly()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	reg := etcd.NewRegistry(cli, etcd.WithTTL(2*time.Second), etcd.WithDrainDelay(0))
	s := startRegistered(t, "echo", reg)
	defer s.Stop()
	r := etcd.NewResolver(admin)
	defer r.Close()
	key := etcd.DefaultPrefix + "/echo/" + s.Addr
	old := awaitLeaseAny(t, admin, key)
	awaitResolved(t, r, "echo", "the server", hasExactly(s.Addr))

	proxy.Block()
	awaitResolved(t, r, "echo", "the lease expire", hasExactly()) // etcd deleted the key
	proxy.Unblock()
	took := awaitLease(t, admin, key, old, 15*time.Second)
	t.Logf("registered again %v after the partition healed", took.Round(time.Millisecond))
	awaitResolved(t, r, "echo", "the server again", hasExactly(s.Addr))
}

// awaitLeaseAny waits for the first registration (Kitex registers one
// second after Run) and returns its lease.
func awaitLeaseAny(t *testing.T, cli *clientv3.Client, key string) clientv3.LeaseID {
	t.Helper()
	awaitLease(t, cli, key, -1, 10*time.Second)
	return leaseOf(t, cli, key)
}

// TestEtcdOutageServesLastKnownGood stops etcd for 30 s while a client
// calls under load: every call succeeds from the last known set, the
// resolver's sync-age metric says the view is stale, and once etcd is back
// every server is registered again (under a new lease: the old one expired
// on the client side during the outage) within seconds.
func TestEtcdOutageServesLastKnownGood(t *testing.T) {
	if testing.Short() {
		t.Log("runs 30 s of etcd outage; -short keeps it to 12 s (beyond the 10 s lease TTL)")
	}
	outage := 30 * time.Second
	if testing.Short() {
		outage = 12 * time.Second
	}
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	reg := etcd.NewRegistry(cli, etcd.WithDrainDelay(0)) // default 10 s TTL
	servers := []*countedServer{startRegistered(t, "echo", reg), startRegistered(t, "echo", reg), startRegistered(t, "echo", reg)}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := etcd.NewResolver(cli, etcd.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	awaitResolved(t, r, "echo", "three servers", hasExactly(servers[0].Addr, servers[1].Addr, servers[2].Addr))
	leases := make([]clientv3.LeaseID, len(servers))
	for i, s := range servers {
		leases[i] = leaseOf(t, cli, etcd.DefaultPrefix+"/echo/"+s.Addr)
	}

	c := resolvedClient(t, "echo", r)
	l := startLoad(c, 4)
	l.waitCalls(t, 100)
	srv.Stop()
	down := time.Now()
	l.waitCalls(t, 100) // still serving right after the stop ...
	time.Sleep(outage - time.Since(down))
	l.waitCalls(t, 100) // ... and at the end of the outage
	if age := syncAge(t, reader); age < (outage - 6*time.Second).Seconds() {
		t.Errorf("sync age %.1fs during a %v outage: the metric does not show the stale view", age, outage)
	}
	srv.Restart(t)
	up := time.Now()
	for i, s := range servers { // they re-register concurrently; wait for each
		awaitLease(t, cli, etcd.DefaultPrefix+"/echo/"+s.Addr, leases[i], 15*time.Second)
	}
	t.Logf("all servers registered again %v after etcd returned", time.Since(up).Round(time.Millisecond))
	l.waitCalls(t, 100)
	l.finish(t)
	awaitResolved(t, r, "echo", "three servers after the outage", hasExactly(servers[0].Addr, servers[1].Addr, servers[2].Addr))
	for _, s := range servers {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// syncAge reads the largest kitexsuite.discovery.sync.age data point.
func syncAge(t *testing.T, reader *sdkmetric.ManualReader) float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	age := -1.0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "kitexsuite.discovery.sync.age" {
				for _, dp := range g.DataPoints {
					age = max(age, dp.Value)
				}
			}
		}
	}
	return age
}

// TestEtcdCompactionUnderActiveWatch partitions the resolver's client from
// etcd, changes the service and compacts past the watch's revision, then
// heals: the resumed watch is told its revision is gone, and the resolver
// re-lists and serves the right set.
func TestEtcdCompactionUnderActiveWatch(t *testing.T) {
	srv := harness.StartEtcd(t)
	admin := srv.Client(t)
	proxy := harness.StartProxy(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.URL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r := etcd.NewResolver(cli)
	defer r.Close()
	put := func(addr string) {
		t.Helper()
		if _, err := admin.Put(deadline(t, 5*time.Second), etcd.DefaultPrefix+"/svc/"+addr, `{"address":"`+addr+`"}`); err != nil {
			t.Fatal(err)
		}
	}
	put("127.0.0.1:1001")
	awaitResolved(t, r, "svc", "the first instance", hasExactly("127.0.0.1:1001"))

	proxy.Block()
	put("127.0.0.1:1002")
	if _, err := admin.Delete(deadline(t, 5*time.Second), etcd.DefaultPrefix+"/svc/127.0.0.1:1001"); err != nil {
		t.Fatal(err)
	}
	put("127.0.0.1:1003")
	srv.Compact(t)
	proxy.Unblock()
	awaitResolved(t, r, "svc", "the set after compaction", hasExactly("127.0.0.1:1002", "127.0.0.1:1003"))
	put("127.0.0.1:1004") // and the new watch follows later changes
	awaitResolved(t, r, "svc", "a change after the re-list", hasExactly("127.0.0.1:1002", "127.0.0.1:1003", "127.0.0.1:1004"))
}

// TestEtcdRollingRestartUnderLoad replaces three servers one by one while a
// client calls: with drain on, no call fails.
func TestEtcdRollingRestartUnderLoad(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	r := etcd.NewResolver(cli)
	defer r.Close()
	rollingRestart(t, etcd.NewRegistry(cli, etcd.WithDrainDelay(time.Second)), r)
}

// TestEtcdTenThousandInstances lists 10 000 instances of one service,
// follows changes to them, and reports the snapshot's memory.
func TestEtcdTenThousandInstances(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	const n = 10000
	putInstances(t, cli, "big", 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := etcd.NewResolver(cli)
	defer r.Close()
	res, err := r.Resolve(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(res.Instances) != n {
		t.Fatalf("resolved %d instances, want %d", len(res.Instances), n)
	}
	seen := make(map[string]bool, n)
	for _, ins := range res.Instances {
		seen[ins.Address().String()] = true
	}
	if len(seen) != n || !seen[instanceAddr(0)] || !seen[instanceAddr(n-1)] {
		t.Fatalf("%d distinct addresses, want %d", len(seen), n)
	}
	t.Logf("10 000 instances: %d KiB heap held by the resolver (%d B/instance)",
		(after.HeapAlloc-before.HeapAlloc)/1024, (after.HeapAlloc-before.HeapAlloc)/n)

	if _, err := cli.Delete(deadline(t, 5*time.Second), etcd.DefaultPrefix+"/big/"+instanceAddr(7)); err != nil {
		t.Fatal(err)
	}
	putInstances(t, cli, "big", n, 1)
	awaitResolved(t, r, "big", "one removed and one added", func(got []string) bool {
		return len(got) == n && !contains(got, instanceAddr(7)) && contains(got, instanceAddr(n))
	})
}

func contains(sorted []string, s string) bool {
	for _, x := range sorted {
		if x == s {
			return true
		}
	}
	return false
}

func instanceAddr(i int) string { return fmt.Sprintf("10.%d.%d.%d:8888", i>>16&255, i>>8&255, i&255) }

// putInstances writes n valid instances of service, from index first on,
// in transactions of 128 puts (etcd's default limit per transaction).
func putInstances(t testing.TB, cli *clientv3.Client, service string, first, n int) {
	t.Helper()
	for start := first; start < first+n; start += 128 {
		var ops []clientv3.Op
		for i := start; i < min(start+128, first+n); i++ {
			addr := instanceAddr(i)
			ops = append(ops, clientv3.OpPut(etcd.DefaultPrefix+"/"+service+"/"+addr,
				`{"network":"tcp","address":"`+addr+`","weight":10,"tags":{"zone":"z1"}}`))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestEtcdMalformedValuesAreSkipped puts values that are not instances next
// to a good one: the resolver serves the good one, logs each bad key once
// and never panics.
func TestEtcdMalformedValuesAreSkipped(t *testing.T) {
	var logs syncBuffer
	klog.SetOutput(&logs)
	defer klog.SetOutput(os.Stderr)

	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	p := etcd.DefaultPrefix + "/svc/"
	bad := map[string]string{
		p + "10.0.0.1:1": `not json`,
		p + "10.0.0.2:1": `{"address":"10.0.0.2:1","weight":"heavy"}`,
		p + "10.0.0.3:1": `{"address":"10.0.0.3:1","tags":{"x":"` + strings.Repeat("x", 100<<10) + `"}}`,
		p + "10.0.0.4:1": `{"address":"nowhere"}`,
		p + "10.0.0.5:1": `[1,2,3]`,
	}
	for k, v := range bad {
		if _, err := cli.Put(deadline(t, 5*time.Second), k, v); err != nil {
			t.Fatal(err)
		}
	}
	putOK := func(addr string) {
		if _, err := cli.Put(deadline(t, 5*time.Second), p+addr, `{"address":"`+addr+`"}`); err != nil {
			t.Fatal(err)
		}
	}
	putOK("10.0.0.9:1")
	r := etcd.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "svc", "only the good instance", hasExactly("10.0.0.9:1"))
	putOK("10.0.0.8:1") // a watch event republishes the set without re-logging
	awaitResolved(t, r, "svc", "both good instances", hasExactly("10.0.0.8:1", "10.0.0.9:1"))
	r.Close()
	r2 := etcd.NewResolver(cli) // a fresh resolver logs each bad key once more
	defer r2.Close()
	awaitResolved(t, r2, "svc", "both good instances", hasExactly("10.0.0.8:1", "10.0.0.9:1"))

	for k := range bad {
		if n := strings.Count(logs.String(), fmt.Sprintf("%q", k)); n != 2 {
			t.Errorf("%s logged %d times by two resolvers, want once each:\n%s", k, n, logs.String())
		}
	}
	// A bad value that is fixed becomes an instance.
	if _, err := cli.Put(deadline(t, 5*time.Second), p+"10.0.0.4:1", `{"address":"10.0.0.4:1"}`); err != nil {
		t.Fatal(err)
	}
	awaitResolved(t, r2, "svc", "the fixed instance", hasExactly("10.0.0.4:1", "10.0.0.8:1", "10.0.0.9:1"))
}

// TestEtcdQuietClusterStaysFresh resolves 40 targets on one resolver and
// then writes nothing: etcd must still confirm every watch each progress
// interval (sync age bounded, not growing with the quiet), and one progress
// request per interval must serve all 40 watches. A bystander watch on the
// same client stream counts the progress notifications etcd broadcasts: one
// per interval, where one request per target made it 40.
func TestEtcdQuietClusterStaysFresh(t *testing.T) {
	const targets, interval, window = 40, 500 * time.Millisecond, 10
	srv := harness.StartEtcd(t)
	admin := srv.Client(t)
	for i := range targets {
		addr := fmt.Sprintf("127.0.0.1:%d", 2000+i)
		if _, err := admin.Put(deadline(t, 5*time.Second), fmt.Sprintf("%s/svc%d/%s", etcd.DefaultPrefix, i, addr), `{"address":"`+addr+`"}`); err != nil {
			t.Fatal(err)
		}
	}
	cli := srv.Client(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := etcd.NewResolver(cli, etcd.WithProgressInterval(interval), etcd.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	for i := range targets {
		awaitResolved(t, r, fmt.Sprintf("svc%d", i), "its instance", hasExactly(fmt.Sprintf("127.0.0.1:%d", 2000+i)))
	}

	// The bystander starts at the current revision, as the resolver's
	// watches do, so that it does not hold progress back itself.
	rev, err := admin.Get(deadline(t, 5*time.Second), "bystander")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	defer cancel()
	w := cli.Watch(ctx, "bystander", clientv3.WithRev(rev.Header.Revision))
	notified := 0
	end := time.After(window * interval)
count:
	for {
		select {
		case resp := <-w:
			if resp.IsProgressNotify() {
				notified++
			}
		case <-end:
			break count
		}
	}
	if age := syncAge(t, reader); age < 0 || age > (4*interval).Seconds() {
		t.Errorf("sync age %.2fs after %v of a quiet cluster with a %v progress interval: progress is not confirmed", age, window*interval, interval)
	}
	// One request per interval: about window notifications (a tick may be
	// skipped or land twice at the edges), never one per target.
	if notified < window/2 || notified > window+2 {
		t.Errorf("the bystander saw %d progress notifications in %d intervals; want one per interval", notified, window)
	}
	t.Logf("%d progress notifications in %d intervals, for %d targets", notified, window, targets)
}

// TestEtcdStalledConnectionRestartsWatch stalls the connection between a
// resolver's client and etcd (a proxy that stops forwarding without
// closing anything, as a member slow to shut down or a half-open path
// does): the watch hears nothing, and after three progress intervals it
// restarts instead of staying silent for as long as the stall lasts.
func TestEtcdStalledConnectionRestartsWatch(t *testing.T) {
	srv := harness.StartEtcd(t)
	admin := srv.Client(t)
	if _, err := admin.Put(deadline(t, 5*time.Second), etcd.DefaultPrefix+"/svc/127.0.0.1:1001", `{"address":"127.0.0.1:1001"}`); err != nil {
		t.Fatal(err)
	}
	proxy := harness.StartProxy(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.URL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := etcd.NewResolver(cli, etcd.WithProgressInterval(500*time.Millisecond), etcd.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	awaitResolved(t, r, "svc", "the instance", hasExactly("127.0.0.1:1001"))
	proxy.Stall()
	defer proxy.Unstall()
	stalled := time.Now()
	for watchRestarts(t, reader) == 0 {
		if time.Since(stalled) > 20*time.Second {
			t.Fatalf("20 s into a stalled connection the watch has not restarted (sync age %.1fs)", syncAge(t, reader))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("watch restarted %v into the stall", time.Since(stalled).Round(time.Millisecond))
	awaitResolved(t, r, "svc", "the last known instance, during the stall", hasExactly("127.0.0.1:1001"))
}
