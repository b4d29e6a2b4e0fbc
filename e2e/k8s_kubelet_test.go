package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// kubelet plays the node agent for a test namespace, since no kubelet runs:
// a pod is Ready while the test says its server runs and every readiness
// gate condition on the pod is True — the rule the real kubelet applies.
type kubelet struct {
	t    *testing.T
	cs   kubernetes.Interface
	ns   string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	running map[string][]string // pod name -> pod IPs, while its server runs
	pods    cache.Store
}

func startKubelet(t *testing.T, cs kubernetes.Interface, ns string) *kubelet {
	t.Helper()
	k := &kubelet{t: t, cs: cs, ns: ns, stop: make(chan struct{}), done: make(chan struct{}), running: map[string][]string{}}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	k.pods = inf.GetStore()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.reconcile(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.reconcile(obj.(*corev1.Pod)) },
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(k.done)
		inf.Run(k.stop)
	}()
	if !cache.WaitForCacheSync(k.stop, inf.HasSynced) {
		t.Fatal("kubelet: pod informer never synced")
	}
	t.Cleanup(func() {
		close(k.stop)
		<-k.done
	})
	return k
}

// run says the pod's server runs at ips (one, or an IPv4 and an IPv6
// address for a dual-stack pod), or with none that it stopped.
func (k *kubelet) run(pod string, ips ...string) {
	k.mu.Lock()
	if len(ips) == 0 {
		delete(k.running, pod)
	} else {
		k.running[pod] = ips
	}
	k.mu.Unlock()
	if obj, ok, _ := k.pods.GetByKey(k.ns + "/" + pod); ok {
		k.reconcile(obj.(*corev1.Pod))
	}
}

func (k *kubelet) reconcile(pod *corev1.Pod) {
	k.mu.Lock()
	ips, running := k.running[pod.Name]
	k.mu.Unlock()
	if !running {
		ips = nil
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
	}
	want := running && pod.DeletionTimestamp == nil
	for _, g := range pod.Spec.ReadinessGates {
		if condition(pod, g.ConditionType) != corev1.ConditionTrue {
			want = false
		}
	}
	if len(ips) == 0 || (pod.Status.PodIP == ips[0] && (condition(pod, corev1.PodReady) == corev1.ConditionTrue) == want) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := patchPodReady(ctx, k.cs, k.ns, pod.Name, want, ips...); err != nil {
		select {
		case <-k.stop:
		default:
			k.t.Logf("kubelet: patch %s: %v", pod.Name, err)
		}
	}
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// newPod is a pod of app on node, optionally gated by kitexsuite's
// readiness gate.
func newPod(name, app, node string, gated bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "server", Image: "kitexsuite.invalid/echo"}},
		},
	}
	if gated {
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "kitexsuite.io/serving"}}
	}
	return p
}
