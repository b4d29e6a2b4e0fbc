package e2e

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/k8s"
)

// BenchmarkK8sInformerScope is what a client resolving one small Service
// (one slice of 3 endpoints) holds in a namespace that also has a large
// unrelated one (100 slices of 100 endpoints, as BenchmarkK8sEndpoints10k
// writes them): with the default per-Service informer, whose list and
// watch select the target's slices by label, and with
// WithNamespaceInformer, which caches every slice of the namespace.
//
// held: B/resolver is the growth of the live heap across a fresh
// resolver's first Resolve (heapHeldByFirstResolve), on a clientset
// connected before the baseline; ns/op is that first Resolve (starting
// the informer, listing, decoding, building the snapshot).
func BenchmarkK8sInformerScope(b *testing.B) {
	const ns, small, big = "scope", "small", "big"
	kube := harness.StartKube(b)
	cs := kube.Clientset(b)
	kube.CreateNamespace(b, ns)
	ctx := b.Context()
	for _, svc := range []string{small, big} {
		if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svc},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "rpc", Port: echoPort}}},
		}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	// The small Service's slice is 198.19.0.0/24, the big one's 198.19.1.0/24 and up.
	objs := []*discoveryv1.EndpointSlice{benchEndpointSlice(ns, small, 0, 3)}
	for i := 1; i <= 100; i++ {
		objs = append(objs, benchEndpointSlice(ns, big, i, 100))
	}
	for _, es := range objs {
		if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	target := fmt.Sprintf("%s.%s:%d", small, ns, echoPort)
	for _, scope := range []struct {
		name string
		opts []k8s.Option
	}{{"service", nil}, {"namespace", []k8s.Option{k8s.WithNamespaceInformer()}}} {
		b.Run(scope.name, func(b *testing.B) {
			var held, resolvers int64
			for b.Loop() {
				b.StopTimer()
				rcs, closeIdle := k8sBenchClientset(b, kube)
				if _, err := rcs.CoreV1().Services(ns).Get(ctx, small, metav1.GetOptions{}); err != nil {
					b.Fatal(err)
				}
				held += heapHeldByFirstResolve(b, func() *discoverycore.Resolver { return k8s.NewResolver(rcs, scope.opts...) }, target, 3)
				resolvers++
				closeIdle()
				b.StartTimer()
			}
			b.ReportMetric(float64(held)/float64(resolvers), "B/resolver")
		})
	}
}
