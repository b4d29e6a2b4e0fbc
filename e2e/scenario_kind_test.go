//go:build kind

package e2e

// The scenarios against the example chain installed by its Helm chart in a
// real cluster (kind): `make e2e-kind` creates the cluster, builds and
// loads the images, installs the chart and runs this test with KUBECONFIG.
// It needs a container engine, so CI — which has none — does not run it;
// `make test` compiles it (go vet -tags kind) so it cannot rot unnoticed.
//
// Here the chain's pods are real pods: the kubelet runs, drains and kills
// them. Traffic reaches the gateway, and the test reads each pod's
// /metrics, through the API server's proxy, so nothing but the kubeconfig
// is needed. Of the five scenarios, the trace-backend and registry
// outages do not apply (the chart deploys no trace backend; the registry
// is the cluster's own API server).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kindChain is the Helm-installed chain in a namespace of a cluster.
type kindChain struct {
	cs *kubernetes.Clientset
	ns string
}

func TestKindScenarios(t *testing.T) {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		t.Fatal("KUBECONFIG must name the cluster the chart is installed in (make e2e-kind sets it)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// An HTTP client of the test's own, whose idle connections it closes:
	// the package's goroutine-leak check runs after the test.
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	c := &kindChain{cs: cs, ns: os.Getenv("KITEXSUITE_E2E_NAMESPACE")}
	if c.ns == "" {
		c.ns = "kitexsuite"
	}
	rep := &scenarioReport{}
	defer rep.write(t, "kitexsuite e2e scenarios: Helm chart on kind")
	for _, sc := range []struct {
		name string
		run  func(t *testing.T, c *kindChain, s *loadStats, notes *string)
	}{
		{"happy_path", kindHappyPath},
		{"replica_sigkill", kindReplicaKilled},
		{"rolling_restart", kindRollingRestart},
	} {
		rep.run(t, "k8s (kind)", sc.name, func(t *testing.T, s *loadStats, notes *string) {
			c.awaitReady(t)
			sc.run(t, c, s, notes)
		})
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
	deadline := time.Now().Add(5 * time.Minute)
	for _, svc := range []string{gatewaySvc, ordersSvc, inventorySvc} {
		for {
			d, err := c.cs.AppsV1().Deployments(c.ns).Get(context.Background(), svc, metav1.GetOptions{})
			if err == nil && rolledOut(d) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %s not rolled out after 5 min: %v", svc, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
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
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		_, err := c.cs.CoreV1().Pods(c.ns).Get(context.Background(), victim, metav1.GetOptions{})
		ready := 0
		for _, p := range c.pods(t, inventorySvc) {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if apierrors.IsNotFound(err) && ready == want {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("pod %s not replaced by a Ready one in 5 min", victim)
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

// calls sums metric (a counter) over the /metrics of every pod of service.
func (c *kindChain) calls(t *testing.T, service, metric string) float64 {
	t.Helper()
	var sum float64
	for _, p := range c.pods(t, service) {
		body, err := c.cs.CoreV1().Pods(c.ns).ProxyGet("http", p.Name, "9090", "/metrics", nil).DoRaw(context.Background())
		if err != nil {
			t.Fatalf("scrape %s: %v", p.Name, err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("parse %s /metrics: %v", p.Name, err)
		}
		if f, ok := families[metric]; ok {
			for _, m := range f.GetMetric() {
				sum += counterValue(m)
			}
		}
	}
	return sum
}

func counterValue(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

// kindHappyPath: N requests through the chain; every hop's counters,
// summed over its pods, grow by exactly N.
func kindHappyPath(t *testing.T, c *kindChain, s *loadStats, notes *string) {
	const n = 200
	type hop struct{ service, metric string }
	hops := []hop{{gatewaySvc, "kitex_client_calls_total"}, {ordersSvc, "kitex_server_calls_total"}, {inventorySvc, "kitex_server_calls_total"}}
	base := map[hop]float64{}
	for _, h := range hops {
		base[h] = c.calls(t, h.service, h.metric)
	}
	l := startOrderLoad(c.order, loadWorkers, n)
	l.wg.Wait()
	*s = l.all()
	if s.failures != 0 {
		t.Fatalf("%d of %d requests failed: %s", s.failures, s.calls, s.firstErrors())
	}
	// A server counts a call when its Suites finish, just after replying:
	// poll each counter until it reaches base+n (or a deadline), then
	// require exactly n.
	for _, h := range hops {
		deadline := time.Now().Add(10 * time.Second)
		got := c.calls(t, h.service, h.metric) - base[h]
		for got < n && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			got = c.calls(t, h.service, h.metric) - base[h]
		}
		if got != n {
			t.Errorf("%s %s grew by %v, want exactly %d", h.service, h.metric, got, n)
		}
	}
	*notes = "counters read from every pod's /metrics through the API server proxy"
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
