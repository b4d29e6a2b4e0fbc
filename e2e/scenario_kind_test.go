//go:build kind

package e2e

// The scenarios against the example chain installed by its Helm chart in a
// real cluster: kind v0.33.0 on a node image built here from source.
// scripts/kind/e2e.sh (make test, whenever a container engine answers)
// creates the cluster, loads the images, installs the chart and runs this
// test with KUBECONFIG and KITEXSUITE_KIND_NODE set.
//
// Here the chain's pods are real pods: a real kubelet runs, probes, drains
// and kills them. Traffic reaches the gateway, and the test reads each
// pod's /metrics, through the API server's proxy, so nothing but the
// kubeconfig (and, to restart the kubelet, the node's container) is needed.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kitexsuite/suite/e2e/harness"
)

// kindChain is the Helm-installed chain in a namespace of the cluster,
// with the Jaeger and Prometheus beside the cluster that watch it.
type kindChain struct {
	cs       *kubernetes.Clientset
	ns       string
	node     string   // the kind node's container, which is also the Node's name
	backends []string // app.kubernetes.io/name of the registry's own servers
	jaeger   *harness.Jaeger
	prom     *harness.Prometheus
}

func TestKindScenarios(t *testing.T) {
	env := kindEnvFromEnv(t)
	cfg, cs := kindClient(t, env.kubeconfig)
	jaeger := harness.StartJaegerOTLPOn(t, env.hostIP)
	prom := harness.StartPrometheusWith(t, kindPrometheusJobs(t, cfg, podDiscovery(t, cfg, cs)))
	rep := &scenarioReport{}
	defer rep.write(t, "kitexsuite e2e scenarios: Helm chart on kind")
	for _, registry := range []string{"k8s", "etcd", "consul"} {
		t.Run(registry, func(t *testing.T) {
			c := installChain(t, env, cs, registry, jaeger)
			c.jaeger, c.prom = jaeger, prom
			for _, sc := range []struct {
				name string
				run  func(t *testing.T, c *kindChain, s *loadStats, notes *string)
			}{
				{"happy_path", func(t *testing.T, c *kindChain, s *loadStats, notes *string) { scenarioHappyPath(t, c, s, notes) }},
				{"replica_sigkill", kindReplicaKilled},
				{"rolling_restart", kindRollingRestart},
				{"kubelet_restart", kindKubeletRestart},
			} {
				rep.run(t, "kind/"+registry, sc.name, func(t *testing.T, s *loadStats, notes *string) {
					c.awaitReady(t)
					sc.run(t, c, s, notes)
				})
			}
		})
	}
}

func (c *kindChain) prometheus() *harness.Prometheus { return c.prom }
func (c *kindChain) traces() *harness.Jaeger         { return c.jaeger }

// awaitScraped waits until Prometheus has scraped every pod of every
// service since t0.
func (c *kindChain) awaitScraped(t *testing.T, t0 time.Time) {
	t.Helper()
	for _, svc := range []string{gatewaySvc, ordersSvc, inventorySvc} {
		var pods []string
		for _, p := range c.pods(t, svc) {
			pods = append(pods, p.Name)
		}
		c.prom.AwaitInstancesScrapedAfter(t, svc, pods, t0)
	}
}

// order asks the gateway Service for item through the API server's proxy.
func (c *kindChain) order(ctx context.Context, item string) (orderReply, error) {
	var r orderReply
	body, err := c.cs.CoreV1().Services(c.ns).ProxyGet("http", gatewaySvc, "8080", "/order", map[string]string{"item": item}).DoRaw(ctx)
	if err != nil {
		_ = json.Unmarshal(body, &r)
		return r, fmt.Errorf("GET /order: %v %s", err, r.Error)
	}
	return r, json.Unmarshal(body, &r)
}

// awaitReady waits until every Deployment of the chain has all its
// replicas updated and available.
func (c *kindChain) awaitReady(t *testing.T) {
	t.Helper()
	for _, svc := range []string{gatewaySvc, ordersSvc, inventorySvc} {
		lw := cache.NewListWatchFromClient(c.cs.AppsV1().RESTClient(), "deployments", c.ns, fieldsName(svc))
		c.await(t, lw, &appsv1.Deployment{}, 5*time.Minute, "deployment "+svc+" rolled out", func(objs []any) bool {
			return len(objs) == 1 && rolledOut(objs[0].(*appsv1.Deployment))
		})
	}
}

// awaitReplaced waits until the deleted pod is gone and inventory has its
// full count of Ready pods again (a deleted pod does not change the
// Deployment's generation, so awaitReady would not wait).
func (c *kindChain) awaitReplaced(t *testing.T, victim string) {
	t.Helper()
	d, err := c.cs.AppsV1().Deployments(c.ns).Get(context.Background(), inventorySvc, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	if d.Spec.Replicas != nil {
		want = int(*d.Spec.Replicas)
	}
	lw := cache.NewFilteredListWatchFromClient(c.cs.CoreV1().RESTClient(), "pods", c.ns, func(o *metav1.ListOptions) {
		o.LabelSelector = "app.kubernetes.io/name=" + inventorySvc
	})
	c.await(t, lw, &corev1.Pod{}, 5*time.Minute, "pod "+victim+" replaced by a Ready one", func(objs []any) bool {
		ready := 0
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if p.Name == victim {
				return false
			}
			if p.DeletionTimestamp == nil && podReady(p) {
				ready++
			}
		}
		return ready == want
	})
}

// await runs an informer on lw until cond holds for the objects it has
// (checked after every change), failing t after timeout.
func (c *kindChain) await(t *testing.T, lw cache.ListerWatcher, obj runtime.Object, timeout time.Duration, what string, cond func(objs []any) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	inf := cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(ctx.Done()) }()
	defer func() { cancel(); <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatalf("%s: informer did not sync", what)
	}
	for !cond(inf.GetStore().List()) {
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("not %s within %v", what, timeout)
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want
}

// pods lists the running pods of service.
func (c *kindChain) pods(t *testing.T, service string) []corev1.Pod {
	t.Helper()
	list, err := c.cs.CoreV1().Pods(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + service})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// kindReplicaKilled: an inventory pod is deleted with no grace period (the
// kubelet SIGKILLs it); only requests in flight on it may fail, and the
// chain serves every request afterwards.
func kindReplicaKilled(t *testing.T, c *kindChain, s *loadStats, notes *string) {
	l := startOrderLoad(c.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 100)
	victim := c.pods(t, inventorySvc)[0]
	from := time.Now()
	zero := int64(0)
	if err := c.cs.CoreV1().Pods(c.ns).Delete(context.Background(), victim.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	c.awaitReplaced(t, victim.Name)
	after := time.Now()
	l.waitCalls(t, 200)
	l.stop()
	*s = l.window(from, time.Now())
	if failed := s.failed(); len(failed) > loadWorkers {
		t.Errorf("%d requests failed, more than the %d that can be in flight: %s", len(failed), loadWorkers, s.firstErrors())
	}
	if rec := l.window(after, time.Now()); rec.failures != 0 {
		t.Errorf("after the replacement was ready, %d of %d requests failed: %s", rec.failures, rec.calls, rec.firstErrors())
	}
	*notes = fmt.Sprintf("pod %s deleted with grace period 0", victim.Name)
}

// kindRollingRestart: `kubectl rollout restart` of inventory under load;
// the chart's readiness gate drains each old pod: no request fails.
func kindRollingRestart(t *testing.T, c *kindChain, s *loadStats, notes *string) {
	l := startOrderLoad(c.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 100)
	from := time.Now()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kitexsuite.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := c.cs.AppsV1().Deployments(c.ns).Patch(context.Background(), inventorySvc, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	c.awaitReady(t) // the patch bumped the generation: rolled out once observed and done
	l.waitCalls(t, 100)
	l.stop()
	*s = l.window(from, time.Now())
	if s.failures != 0 {
		t.Errorf("%d of %d requests failed during the rollout: %s", s.failures, s.calls, s.firstErrors())
	}
	*notes = "rollout restart of inventory, readiness-gate drain"
}

// kindKubeletRestart: the node's kubelet is restarted (systemctl, inside
// the kind node) under load. Pods outlive their kubelet: no request fails,
// no container restarts, and the new kubelet takes the node over (its
// Lease is renewed after the restart, the node stays Ready).
func kindKubeletRestart(t *testing.T, c *kindChain, s *loadStats, notes *string) {
	before := c.containerStarts(t)
	l := startOrderLoad(c.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 100)
	from := time.Now()
	// systemctl restart returns once the old kubelet is stopped and the new
	// one started: a Lease renewal after it is the new kubelet's.
	if out, err := exec.Command("docker", "exec", c.node, "systemctl", "restart", "kubelet").CombinedOutput(); err != nil {
		t.Fatalf("restart kubelet: %v: %s", err, out)
	}
	restarted := time.Now()
	lw := cache.NewListWatchFromClient(c.cs.CoordinationV1().RESTClient(), "leases", "kube-node-lease", fieldsName(c.node))
	c.await(t, lw, &coordinationv1.Lease{}, 2*time.Minute, "node lease renewed by the new kubelet", func(objs []any) bool {
		if len(objs) != 1 {
			return false
		}
		rt := objs[0].(*coordinationv1.Lease).Spec.RenewTime
		return rt != nil && rt.After(restarted)
	})
	renewed := time.Since(restarted)
	node, err := c.cs.CoreV1().Nodes().Get(context.Background(), c.node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
			t.Errorf("node %s Ready=%s after the kubelet restart: %s", c.node, cond.Status, cond.Message)
		}
	}
	l.waitCalls(t, 200)
	l.stop()
	*s = l.window(from, time.Now())
	if s.failures != 0 {
		t.Errorf("%d of %d requests failed across the kubelet restart: %s", s.failures, s.calls, s.firstErrors())
	}
	if after := c.containerStarts(t); !maps.Equal(before, after) {
		t.Errorf("containers restarted or pods replaced across the kubelet restart:\nbefore %v\nafter  %v", before, after)
	}
	*notes = fmt.Sprintf("kubelet restarted in node %s; lease renewed %v later; no pod or container restarted", c.node, renewed.Round(time.Millisecond))
}

// containerStarts maps every chain pod (by UID) to its containers' restart
// counts.
func (c *kindChain) containerStarts(t *testing.T) map[types.UID]int32 {
	t.Helper()
	out := map[types.UID]int32{}
	for _, svc := range []string{gatewaySvc, ordersSvc, inventorySvc} {
		for _, p := range c.pods(t, svc) {
			var n int32
			for _, st := range p.Status.ContainerStatuses {
				n += st.RestartCount
			}
			out[p.UID] = n
		}
	}
	return out
}
