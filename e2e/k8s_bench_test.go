package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/registry/k8s"
)

// BenchmarkK8sPropagation measures how long a pod's readiness change takes
// to reach a Kitex client's balancer: from the status patch that marks the
// pod Ready (or NotReady) — the patch the tests' kubelet emulator sends,
// timed from just before it is sent — until Kitex's balancer cache hands
// the added (or removed) address to the balancer (balancerSpy). The pod
// runs a real Kitex server on a test-host address.
//
// The path is the whole of a real cluster's: kube-apiserver stores the pod
// status in etcd; the real EndpointSlice controller in
// kube-controller-manager sees the pod change and rewrites the Service's
// EndpointSlice (its --endpointslice-updates-batch-period, which the
// harness leaves at the default 0, adds no batching delay, but its work
// queue, its read of the informer caches and the slice write are in the
// figure); the API server sends the slice to our resolver's informer; the
// resolver rebuilds the service's snapshot; and the client's balancer cache
// picks it up on its next discoverycore.WithFastRefresh refresh (100 ms),
// which is on average half the figure. Changes land at a uniformly random
// point of that refresh cycle (randomPhase of BenchmarkEtcdPropagation).
//
// Unlike the etcd and Consul benchmarks there is no second side: there is
// no kitex-contrib Kubernetes resolver to compare with.
//
// The metrics are p50-ms and p99-ms. ns/op is an iteration's wall time,
// which also holds a random wait, a call and the unmeasured change back.
// Run with -benchtime=20x.
//
// The tests' kubelet emulator (startKubelet) and cluster helpers take a
// *testing.T, so the benchmark builds the same cluster with its own helpers
// and sends the emulator's patch itself; nothing else writes pod status.
func BenchmarkK8sPropagation(b *testing.B) {
	f := startK8sPropagation(b)
	b.Run("ready", func(b *testing.B) { f.run(b, true) })
	b.Run("notready", func(b *testing.B) { f.run(b, false) })
}

// k8sPropagation is a client of the echo Service with two pods: an anchor,
// Ready throughout so that every iteration starts with a call that must
// succeed (it keeps the balancer in use, see propagationFixture), and the
// measured pod, whose readiness each iteration flips.
type k8sPropagation struct {
	cs     kubernetes.Interface
	ns     string
	pod    string // the measured pod
	ip     string
	addr   string
	ready  bool // as last patched
	spy    *balancerSpy
	client echoservice.Client
}

// k8sPropagationTimeout bounds a wait for the balancer.
const k8sPropagationTimeout = 10 * time.Second

func startK8sPropagation(b *testing.B) *k8sPropagation {
	kube := harness.StartKube(b)
	cs := kube.Clientset(b)
	hosts := harness.StartTestHosts(b)
	const ns = "shop"
	kube.CreateNamespace(b, ns)
	kube.CreateNode(b, "node-a", "zone-a")
	if _, err := cs.CoreV1().Services(ns).Create(b.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"}, Ports: []corev1.ServicePort{
			{Name: "rpc", Port: echoPort, TargetPort: intstr.FromInt32(echoPort)},
		}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	target := fmt.Sprintf("echo.%s:%d", ns, echoPort)
	r := k8s.NewResolver(cs)
	b.Cleanup(func() { _ = r.Close() }) // after the servers stop (cleanups run last first)

	anchor := startK8sBenchPod(b, cs, hosts, ns, "echo-anchor")
	f := &k8sPropagation{cs: cs, ns: ns, pod: "echo-measured", spy: newBalancerSpy()}
	f.ip = startK8sBenchPod(b, cs, hosts, ns, f.pod)
	f.addr = fmt.Sprintf("%s:%d", f.ip, echoPort)
	if err := patchPodReady(b.Context(), cs, ns, "echo-anchor", true, anchor); err != nil {
		b.Fatal(err)
	}
	awaitResolved(b, r, target, "the anchor pod", hasExactly(fmt.Sprintf("%s:%d", anchor, echoPort)))
	c, err := echoservice.NewClient(target, client.WithResolver(r),
		discoverycore.WithFastRefresh(f.spy, 0), client.WithRPCTimeout(3*time.Second),
		client.WithConnectTimeout(time.Second)) // as resolvedClient: a fresh test-host address may dial slowly
	if err != nil {
		b.Fatal(err)
	}
	f.client = c
	// The first call creates the balancer, holding the anchor; from then on
	// it learns of changes only through Rebalance, which the spy notes.
	if err := echoOnce(c); err != nil {
		b.Fatal(err)
	}
	f.set(b, true)
	f.spy.awaitAddr(b, f.addr, true, k8sPropagationTimeout)
	return f
}

// startK8sBenchPod creates a pod of the echo Service on node-a, not yet
// running, and starts a real Echo server for it on a new test-host address,
// which it returns.
func startK8sBenchPod(b *testing.B, cs kubernetes.Interface, hosts *harness.TestHosts, ns, name string) string {
	if _, err := cs.CoreV1().Pods(ns).Create(b.Context(), newPod(name, "echo", "node-a", false), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	ip := hosts.AddIP(b)
	s, err := testservice.StartOn(hosts.ListenPort(b, ip, echoPort), "echo", testservice.Thrift, &testservice.Handler{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop() })
	return ip
}

// run measures changes to Ready (or to NotReady): each iteration first
// puts the pod in the other state, unmeasured, if it is not there already,
// then calls, waits a random phase and measures the change.
func (f *k8sPropagation) run(b *testing.B, toReady bool) {
	var lat []time.Duration
	for b.Loop() {
		if f.ready == toReady {
			f.set(b, !toReady)
			f.spy.awaitAddr(b, f.addr, !toReady, k8sPropagationTimeout)
		}
		if err := echoOnce(f.client); err != nil {
			b.Fatal(err)
		}
		time.Sleep(rand.N(discoverycore.DefaultRefreshInterval)) // random phase
		start := time.Now()
		f.set(b, toReady)
		lat = append(lat, f.spy.awaitAddr(b, f.addr, toReady, k8sPropagationTimeout).Sub(start))
	}
	reportPercentiles(b, lat)
}

func (f *k8sPropagation) set(b *testing.B, ready bool) {
	if err := patchPodReady(b.Context(), f.cs, f.ns, f.pod, ready, f.ip); err != nil {
		b.Fatal(err)
	}
	f.ready = ready
}

// patchPodReady sends the status patch of the tests' kubelet emulator
// (kubelet.reconcile): phase Running, the pod IPs (the first is podIP;
// a dual-stack pod has one of each family), and Ready and
// ContainersReady as ready says — one request.
func patchPodReady(ctx context.Context, cs kubernetes.Interface, ns, name string, ready bool, ips ...string) error {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	now := metav1.Now()
	podIPs := make([]corev1.PodIP, len(ips))
	for i, ip := range ips {
		podIPs[i].IP = ip
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"phase": corev1.PodRunning, "podIP": ips[0], "podIPs": podIPs,
		"conditions": []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		},
	}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cs.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

// BenchmarkK8sEndpoints10k resolves a selector-less Service with 10 000
// endpoints in 100 EndpointSlices of 100, written directly through the API
// and labelled endpointslice.kubernetes.io/managed-by=bench.kitexsuite.io so
// that no controller touches them. Each endpoint has an address of
// 198.19.0.0/16 (nothing serves there: only the resolver's view is
// measured), a node, a zone and a pod reference, as the EndpointSlice
// controller writes them.
//
// held: B/10k-endpoints is the growth of this process's live heap across
// a fresh resolver's first Resolve (every endpoint), each side read with
// runtime.ReadMemStats after two garbage collections; the resolver's
// clientset is connected before the baseline. kube-apiserver runs in
// another process, so the figure is our client's side: the informer's
// cache of the 100 decoded slices, the snapshot of 10 000 instances and
// the watch. (The harness's etcd is embedded in this process, but holds
// the same data before and after.) ns/op is that first Resolve: starting
// the informer, listing the slices, decoding them and building the
// snapshot.
//
// update: each iteration updates one slice, flipping one endpoint's ready
// condition, and waits until the resolver's snapshot has the new number of
// instances (polling Resolve every 0.5 ms, which also bounds the
// resolution of ns/op). cpu-µs/update is the user+system CPU time of the
// whole process (getrusage RUSAGE_SELF) per iteration: our client's
// Update request and the resolver's work (the informer decoding the slice
// event, the rebuild of the 10 000-instance snapshot) but also the
// embedded etcd's handling of the write and of kube-apiserver's watch, and
// the polling. It is an upper bound on the resolver's own cost;
// kube-apiserver's and kube-controller-manager's CPU is not in it.
func BenchmarkK8sEndpoints10k(b *testing.B) {
	const (
		ns       = "bench"
		service  = "big"
		slices   = 100
		perSlice = 100
		n        = slices * perSlice
	)
	kube := harness.StartKube(b)
	cs := kube.Clientset(b)
	kube.CreateNamespace(b, ns)
	ctx := b.Context()
	if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: service},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "rpc", Port: echoPort}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	objs := make([]*discoveryv1.EndpointSlice, slices)
	for i := range objs {
		es := benchEndpointSlice(ns, service, i, perSlice)
		created, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		objs[i] = created
	}
	target := fmt.Sprintf("%s.%s:%d", service, ns, echoPort)

	b.Run("held", func(b *testing.B) {
		var held, resolvers int64
		for b.Loop() {
			b.StopTimer()
			// A fresh connection per resolver, made before the baseline and
			// closed after it: the previous resolver's watch is gone with
			// its connection, not torn down inside the next measurement.
			rcs, closeIdle := k8sBenchClientset(b, kube)
			if _, err := rcs.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{}); err != nil {
				b.Fatal(err)
			}
			held += heapHeldByFirstResolve(b, func() *discoverycore.Resolver { return k8s.NewResolver(rcs) }, target, n)
			resolvers++
			closeIdle()
			b.StartTimer()
		}
		b.ReportMetric(float64(held)/float64(resolvers), "B/10k-endpoints")
	})

	// ready is how many endpoints are ready; flips counts the updates, and
	// picks the next endpoint to flip (across runs of the sub-benchmark).
	ready, flips := n, 0
	b.Run("update", func(b *testing.B) {
		r := k8s.NewResolver(cs)
		defer func() { _ = r.Close() }()
		awaitInstanceCount(b, r, target, ready)
		var before, after syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
			b.Fatal(err)
		}
		updates := 0
		for b.Loop() {
			i := flips % slices
			ep := &objs[i].Endpoints[flips/slices%perSlice]
			now := !*ep.Conditions.Ready
			ep.Conditions.Ready, ep.Conditions.Serving = &now, &now
			if now {
				ready++
			} else {
				ready--
			}
			updated, err := cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, objs[i], metav1.UpdateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			objs[i] = updated
			flips++
			updates++
			awaitInstanceCount(b, r, target, ready)
		}
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
			b.Fatal(err)
		}
		cpu := time.Duration(syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(before.Utime) +
			syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(before.Stime))
		b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(updates), "cpu-µs/update")
	})
}

// benchEndpointSlice is slice i of service: perSlice ready endpoints at
// 198.19.i.1 and up, on port echoPort.
func benchEndpointSlice(ns, service string, i, perSlice int) *discoveryv1.EndpointSlice {
	port, proto, name := int32(echoPort), corev1.ProtocolTCP, "rpc"
	node, zone := "node-a", "zone-a"
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%03d", service, i),
			Labels: map[string]string{
				discoveryv1.LabelServiceName: service,
				discoveryv1.LabelManagedBy:   "bench.kitexsuite.io",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	for j := range perSlice {
		yes, no := true, false
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("198.19.%d.%d", i, j+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
			NodeName:   &node,
			Zone:       &zone,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%03d-%03d", service, i, j)},
		})
	}
	return es
}

// k8sBenchClientset is an admin clientset with a connection of its own,
// and a function closing its idle connections.
func k8sBenchClientset(b *testing.B, kube *harness.Kube) (kubernetes.Interface, func()) {
	cfg := kube.AdminConfig()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		b.Fatal(err)
	}
	return cs, func() { utilnet.CloseIdleConnectionsFor(hc.Transport) }
}

// awaitInstanceCount polls r every 0.5 ms until target has want instances.
func awaitInstanceCount(tb testing.TB, r *discoverycore.Resolver, target string, want int) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	got := -1
	for time.Now().Before(deadline) {
		res, err := r.Resolve(context.Background(), target)
		if err == nil {
			if got = len(res.Instances); got == want {
				return
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	tb.Fatalf("resolver of %q has %d instances, want %d", target, got, want)
}
